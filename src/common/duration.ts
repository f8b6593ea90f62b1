/** How a duration reads wherever it is shown (the CLI's tables and lines, the UI's status and details): one style. */

/** "850 ms", "2.31 s", "14 s", "3 m 05 s", "2 h 04 m"; "-" for a value that is not a duration. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  // cut, not rounded, like every longer duration and the table's ELAPSED: 4.999 s is "4.99 s", next to 0:04
  if (ms < 10_000) return `${(Math.floor(ms / 10) / 100).toFixed(2)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, '0')} m`;
}
