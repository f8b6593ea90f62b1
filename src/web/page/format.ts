/**
 * How the web page writes states, durations, sizes and stall warnings: the same words as the
 * terminal UI (src/tui/format.ts), which cannot be imported here (it is compiled for Node).
 */
import type { WireStall, WireTask } from './model.js';

export const STATE_LABELS: Readonly<Record<string, { icon: string; label: string }>> = {
  queued: { icon: '◌', label: 'queued' },
  starting: { icon: '◔', label: 'starting' },
  running: { icon: '▶', label: 'running' },
  paused: { icon: '⏸', label: 'paused' },
  cancelling: { icon: '◍', label: 'cancelling…' },
  killing: { icon: '✖', label: 'killing…' },
  completed: { icon: '✔', label: 'completed' },
  failed: { icon: '✘', label: 'failed' },
  cancelled: { icon: '■', label: 'cancelled' },
  killed: { icon: '☠', label: 'killed' },
  interrupted: { icon: '↯', label: 'interrupted' },
};

/** What the page shows at once when a stop, pause or resume button is clicked, before the daemon confirms. */
export const PENDING_LABELS = {
  cancel: 'cancelling…',
  kill: 'killing…',
  restart: 'restarting…',
  pause: 'pausing…',
  resume: 'resuming…',
  stop: 'stopping…',
} as const;
export type PendingAction = keyof typeof PENDING_LABELS;

export function stateLabel(state: string): string {
  const style = STATE_LABELS[state];
  return style ? `${style.icon} ${style.label}` : state;
}

/** 0:07, 1:02:03 (as ELAPSED in the terminal UI). */
export function clock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/** 2 ms, 340 ms, 1.23 s, 2 min 5 s. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function timeOfDay(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

/** ⚠ no progress for 14 s · spinning at 100% CPU (the terminal UI's words). */
export function stallText(stall: WireStall, extraMs: number): string {
  const seconds = Math.round((stall.silentForMs + Math.max(0, extraMs)) / 1000);
  const why =
    stall.diagnosis === 'spinning'
      ? `spinning at ${Math.round(stall.cpuPercent)}% CPU`
      : stall.diagnosis === 'blocked'
        ? 'blocked (no CPU use)'
        : 'cause unknown';
  return `⚠ no progress for ${seconds} s · ${why}`;
}

/** The current attempt's time: start to end, or to now. */
export function elapsedMs(task: WireTask, now: number): number | undefined {
  if (task.startedAt === undefined) return undefined;
  return (task.endedAt ?? now) - task.startedAt;
}

/** "killed (SIGKILL) after 2 ms", "failed: boom", "completed in 3.21 s" for a finished task. */
export function outcomeText(task: WireTask): string {
  const outcome = task.outcome;
  if (!outcome) return task.state;
  const parts = [task.state];
  if (outcome.signal) parts.push(`(${outcome.signal})`);
  else if (outcome.exitCode !== undefined && outcome.exitCode !== null && outcome.exitCode !== 0)
    parts.push(`(exit ${outcome.exitCode})`);
  if (outcome.stopReason) parts.push(`by ${outcome.stopReason}`);
  if (outcome.escalated) parts.push('after the grace period');
  parts.push(`in ${duration(outcome.durationMs)}`);
  return parts.join(' ') + (outcome.error ? `: ${outcome.error.message.split('\n')[0]}` : '');
}

/** A task value (tagged JSON) as readable text. */
export function valueText(value: unknown): string {
  if (value === undefined) return '';
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}
