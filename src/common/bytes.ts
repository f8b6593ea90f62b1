/**
 * The one way a byte count is written for people (the OOM and reuse messages, doctor, the TUI):
 * binary units; whole units from 10 up, one decimal below 10 unless the value is whole. At most
 * 8 characters ("1023 KiB"), so a table column can rely on its width. (The web page keeps its
 * own copy: its tsconfig compiles the page alone.)
 */
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const text = value < 10 && !Number.isInteger(value) ? value.toFixed(1) : String(Math.round(value));
  return `${text} ${UNITS[unit]}`;
}
