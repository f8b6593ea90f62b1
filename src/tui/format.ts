/** Pure formatting helpers for the terminal UI: durations, bytes, bars, stall texts. */
import { formatBytes as bytesText } from '../common/bytes.js';
import { formatDuration } from '../common/duration.js';
import type { StallInfo } from '../supervisor/types.js';
import type { RecordedState } from '../journal/recorded-state.js';
import { STARVED_CPU_PERCENT } from './task-view.js';

export { formatDuration } from '../common/duration.js';

/** Compact elapsed time for a table cell: "0:07", "12:34", "1:02:03". */
export function formatElapsed(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0
    ? `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`
    : `${m}:${String(s).padStart(2, '0')}`;
}

/** A byte count as src/common/bytes.ts writes it; '' for none. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return '';
  return bytesText(bytes);
}

export function formatPercent(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '';
  return `${Math.round(value)}%`;
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A progress bar of exactly `width` cells, with eighth-block resolution. */
export function progressBar(fraction: number | undefined, width: number): string {
  if (width <= 0) return '';
  const f = fraction === undefined || !Number.isFinite(fraction) ? 0 : Math.min(1, Math.max(0, fraction));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const rest = eighths % 8;
  const bar = '█'.repeat(full) + (full < width ? EIGHTHS[rest] : '');
  return bar + ' '.repeat(Math.max(0, width - [...bar].length));
}

/** Pads or cuts to exactly `width` terminal cells (the UI uses single-width characters only). */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  const chars = [...text];
  if (chars.length > width) return width === 1 ? '…' : chars.slice(0, width - 1).join('') + '…';
  const pad = ' '.repeat(width - chars.length);
  return align === 'left' ? text + pad : pad + text;
}

/** "no progress for 14 s · spinning at 100% CPU"; a runnable task given almost no CPU is waiting for it, not spinning. */
export function stallText(stall: StallInfo, silentForMs = stall.silentForMs): string {
  const silent = `no progress for ${formatDuration(Math.max(0, silentForMs))}`;
  switch (stall.diagnosis) {
    case 'spinning':
      if (stall.cpuPercent < STARVED_CPU_PERCENT)
        return `${silent} · waiting for CPU (${Math.round(stall.cpuPercent)}%)`;
      return `${silent} · spinning at ${Math.round(stall.cpuPercent)}% CPU`;
    case 'blocked':
      return `${silent} · blocked (idle, ${Math.round(stall.cpuPercent)}% CPU)`;
    default:
      return `${silent} · cause unknown`;
  }
}

/** The same as stallText in less, for a narrow cell: "10 s · spinning", then "silent 10 s". */
export function stallShortTexts(stall: StallInfo, silentForMs = stall.silentForMs): string[] {
  const silent = formatDuration(Math.max(0, silentForMs));
  const cause =
    stall.diagnosis === 'spinning'
      ? stall.cpuPercent < STARVED_CPU_PERCENT
        ? 'no CPU'
        : 'spinning'
      : stall.diagnosis === 'blocked'
        ? 'blocked'
        : undefined;
  return [...(cause ? [`${silent} · ${cause}`] : []), `silent ${silent}`];
}

/** Red for a task burning CPU without progress; yellow for one that waits (on I/O, a lock, or for CPU). */
export function stallColor(stall: StallInfo): 'red' | 'yellow' {
  return stall.diagnosis === 'spinning' && stall.cpuPercent >= STARVED_CPU_PERCENT ? 'red' : 'yellow';
}

export interface StateStyle {
  icon: string;
  color: string;
  label: string;
}

export const STATE_STYLES: Record<RecordedState, StateStyle> = {
  queued: { icon: '◌', color: 'gray', label: 'queued' },
  starting: { icon: '◔', color: 'cyan', label: 'starting' },
  running: { icon: '▶', color: 'blue', label: 'running' },
  paused: { icon: '⏸', color: 'cyan', label: 'paused' },
  cancelling: { icon: '◍', color: 'yellow', label: 'cancelling…' },
  killing: { icon: '✖', color: 'magenta', label: 'killing…' },
  completed: { icon: '✔', color: 'green', label: 'completed' },
  failed: { icon: '✘', color: 'red', label: 'failed' },
  cancelled: { icon: '■', color: 'yellow', label: 'cancelled' },
  killed: { icon: '☠', color: 'magenta', label: 'killed' },
  interrupted: { icon: '↯', color: 'red', label: 'interrupted' },
};

/** A one-line, control-character-free rendering of arbitrary text (log lines, error messages). */
export function oneLine(text: string): string {
  return text
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
    .replace(/[\t\n\r]+/g, ' ');
}

/** Local wall-clock time of day, "14:02:07". */
export function formatClock(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
