/** Plain-text rendering for the CLI: tables, task rows, a one-line progress bar (durations: common/duration.ts). */
import { formatDuration } from '../common/duration.js';
import type { Progress } from '../supervisor/types.js';
import type { RecordedTask } from '../journal/recorded-state.js';

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function percent(progress: Progress | undefined): string {
  return progress ? `${Math.floor(progress.fraction * 100)}%` : '-';
}

/** How long the task has run (or ran). */
export function elapsed(task: RecordedTask, now = Date.now()): string {
  if (task.startedAt === undefined) return '-';
  return formatDuration((task.endedAt ?? now) - task.startedAt);
}

export function describeSpec(task: RecordedTask): string {
  const spec = task.spec;
  if ('module' in spec && spec.module !== undefined) return `module ${spec.module}`;
  const command = spec as { command: string; args?: string[] };
  return `command ${[command.command, ...(command.args ?? [])].map(shellQuote).join(' ')}`;
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function taskRows(tasks: RecordedTask[], now = Date.now()): string[][] {
  return tasks.map((t) => [
    t.id,
    t.state,
    percent(t.progress),
    String(t.attempt),
    t.pid === undefined ? '-' : String(t.pid),
    elapsed(t, now),
    t.name,
  ]);
}

export const TASK_HEADER = ['ID', 'STATE', 'PROGRESS', 'ATTEMPT', 'PID', 'TIME', 'NAME'];

/** "[#########-----------]  45% step 9/20", fitted to the terminal width. */
export function progressBar(progress: Progress, columns: number, width = 24): string {
  const filled = Math.round(Math.min(1, Math.max(0, progress.fraction)) * width);
  const text = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(progress.fraction * 100)).padStart(3)}%${progress.message ? ` ${progress.message}` : ''}`;
  return text.length < columns ? text : text.slice(0, Math.max(0, columns - 1));
}

export function time(at: number | undefined): string {
  return at === undefined ? '-' : new Date(at).toISOString().replace('T', ' ');
}
