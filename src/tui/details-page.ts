/**
 * The details page of one task (Enter) as styled lines at most `cols` cells wide (see pages.ts):
 * its state and why, its times, what its process is doing, how it ended, every attempt from the
 * journal, and its log tail.
 */
import { isFinishedState, type RecordedOutcome, type RecordedState } from '../journal/recorded-state.js';
import type { AttemptRecord } from '../journal/types.js';
import {
  formatBytes,
  formatClock,
  formatDuration,
  formatPercent,
  oneLine,
  stallColor,
  stallText,
  STATE_STYLES,
} from './format.js';
import { wrapSegs, type Line, type Seg } from './pages.js';
import { waitingForCpu, type TaskView } from './task-view.js';
import type { DetailsView } from './ui-state.js';

/** A "label  value" line of the details page: the value wraps under itself. */
const LABEL = 11;
function field(label: string, value: readonly Seg[] | string, cols: number): Line[] {
  const segs = typeof value === 'string' ? [{ text: value }] : value;
  return wrapSegs(` ${label.padEnd(LABEL - 2)} `, segs, cols, LABEL);
}

function blank(): Line {
  return [{ text: '' }];
}

/** Why a task was stopped, in words. */
function reasonText(reason: string | undefined): string | undefined {
  switch (reason) {
    case 'cancel':
      return 'cancelled on request (k, taskwarden cancel)';
    case 'kill':
      return 'killed on request (K, taskwarden kill)';
    case 'restart':
      return 'stopped for a restart (r, taskwarden restart)';
    case 'stop-all':
      return 'the emergency stop (s, taskwarden stop-all)';
    case 'timeout':
      return 'its timeout (timeoutMs) ran out';
    case 'stall':
      return 'the watchdog: no progress for too long';
    case 'shutdown':
      return 'the daemon shut down';
    default:
      return reason;
  }
}

function stateSegs(state: RecordedState, attempt: number): Seg[] {
  const style = STATE_STYLES[state];
  return [
    { text: `${style.icon} ${state}`, color: style.color, bold: true },
    { text: ` · attempt ${attempt}`, dim: true },
  ];
}

function errorHead(error: { name: string; message: string; code?: string }): string {
  return `${error.name}${error.code ? ` (${error.code})` : ''}`;
}

/** Stack lines without the first one when it only repeats "Name: message". */
function stackLines(error: { name: string; message: string; stack?: string }): string[] {
  if (!error.stack) return [];
  const lines = error.stack
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '');
  let i = 0;
  // the head of a V8 stack is "Name: message", over as many lines as the message has
  const head = `${error.name}: ${error.message}`.split('\n');
  if (lines.length >= head.length && head.every((h, k) => lines[k] === h.trimEnd())) i = head.length;
  return lines.slice(i).map((l) => l.trim());
}

const RESULT_LINES = 4;

function resultText(result: unknown, room: number): { text: string; abridged: boolean; size: number } {
  let text: string;
  try {
    text = typeof result === 'string' ? JSON.stringify(result) : (JSON.stringify(result) ?? String(result));
  } catch {
    text = String(result);
  }
  const max = Math.max(40, room * RESULT_LINES - 40);
  if (text.length <= max) return { text, abridged: false, size: text.length };
  return { text: `${text.slice(0, max)}…`, abridged: true, size: text.length };
}

/** What an attempt's time was: its start (as the outcome counts it) and end. */
function attemptTimes(
  a: AttemptRecord,
  previous: AttemptRecord | undefined,
): { start?: number; end?: number; took?: number; startedByItself: boolean } {
  // The journal records an attempt's start from the task's snapshot, which for a new attempt may
  // still be the previous attempt's: a start (or pid) equal to the previous attempt's is not its own.
  const startIsOwn = a.startedAt !== undefined && a.startedAt !== previous?.startedAt;
  const took =
    a.durationMs ?? (startIsOwn && a.endedAt !== undefined ? Math.max(0, a.endedAt - a.startedAt!) : undefined);
  const start =
    a.endedAt !== undefined && a.durationMs !== undefined
      ? a.endedAt - a.durationMs
      : startIsOwn
        ? a.startedAt
        : undefined;
  return {
    ...(start !== undefined ? { start } : {}),
    ...(a.endedAt !== undefined ? { end: a.endedAt } : {}),
    ...(took !== undefined ? { took } : {}),
    startedByItself: startIsOwn,
  };
}

/** Why a runnable task gets almost no CPU, and what changes that. */
function cpuWaitText(task: TaskView): string {
  const given = `for CPU: its processes are runnable but got ${formatPercent(task.usage?.cpuPercent)} of a core.`;
  switch (task.priority) {
    case 'idle':
      return `${given} At idle priority a task runs only on CPU time nobody else wants; priority low or normal gives it a share.`;
    case 'low':
      return `${given} At low priority (nice 10) other work comes first; priority normal gives it an equal share.`;
    case 'normal':
      return `${given} The machine is busy.`;
    default:
      return `${given} Tasks run at idle priority unless the spec or the daemon (--priority) says otherwise: only on CPU time nobody else wants.`;
  }
}

/**
 * The process's exit. A module task that fails reports its error to its runner, whose process
 * then exits normally: "exit code 0" beside "failed" would read as a contradiction, so it says so.
 */
function exitText(outcome: RecordedOutcome): string {
  if (outcome.state === 'failed' && outcome.error && outcome.exitCode === 0 && !outcome.signal) {
    return 'code 0: the process exited normally after reporting the error below';
  }
  return `exit code ${outcome.exitCode === undefined || outcome.exitCode === null ? '—' : outcome.exitCode} · signal ${outcome.signal ?? '—'}`;
}

function attemptOutcome(a: AttemptRecord): string {
  const parts: string[] = [];
  if (a.exitCode !== undefined && a.exitCode !== 0) parts.push(`exit code ${a.exitCode}`);
  if (a.signal) parts.push(a.signal);
  if (a.escalated) parts.push('escalated');
  const reason = a.stopReason ? reasonText(a.stopReason) : undefined;
  if (reason && a.state !== 'completed') parts.push(reason);
  if (a.error) parts.push(oneLine(a.error.message));
  return parts.join(' · ');
}

export interface DetailsInput {
  task: TaskView | undefined;
  details: DetailsView;
  now: number;
}

export function detailLines({ task, details, now }: DetailsInput, cols: number): Line[] {
  const lines: Line[] = [];
  if (!task) {
    lines.push([{ text: ` Task ${details.taskId}`, bold: true }]);
    lines.push(
      ...wrapSegs(
        ' ',
        [
          {
            text: 'This task is no longer in the table (cleared, or unknown to the daemon). Esc closes this view.',
            dim: true,
          },
        ],
        cols,
        1,
      ),
    );
    return lines;
  }
  lines.push(...wrapSegs(' ', [{ text: `Task ${task.id}`, bold: true }, { text: ` ${task.name}` }], cols, 1));
  const outcome = task.outcome;
  lines.push(...field('State', stateSegs(task.state, task.attempt), cols));
  if (task.host !== undefined)
    lines.push(...field('Host', `agent ${task.host} (the pid below is on its machine)`, cols));
  const reason = reasonText(outcome?.stopReason ?? task.stopReason);
  if (reason)
    lines.push(
      ...field(
        'Reason',
        reason + (outcome?.escalated ? '; it did not stop within the grace period, so it was killed (SIGKILL)' : ''),
        cols,
      ),
    );
  else if (outcome?.state === 'completed') lines.push(...field('Reason', 'it finished on its own', cols));
  else if (outcome?.state === 'failed')
    lines.push(
      ...field('Reason', outcome.error ? 'the task failed (below)' : 'the process exited with an error', cols),
    );
  else if (task.state === 'interrupted')
    lines.push(...field('Reason', 'the daemon running it exited before it finished', cols));

  // times: ELAPSED (the table) and "done in" count the attempt from its start, process start-up included
  const times: string[] = [`created ${formatClock(task.createdAt)}`];
  if (task.attemptStartedAt !== undefined) times.push(`attempt started ${formatClock(task.attemptStartedAt)}`);
  if (task.startedAt !== undefined) times.push(`running from ${formatClock(task.startedAt)}`);
  if (task.endedAt !== undefined) times.push(`ended ${formatClock(task.endedAt)}`);
  lines.push(...field('Times', times.join(' · '), cols));
  const spans: string[] = [];
  if (task.attemptStartedAt !== undefined) {
    const end = isFinishedState(task.state) ? (task.endedAt ?? now) : now;
    const took = outcome ? outcome.durationMs : Math.max(0, end - task.attemptStartedAt);
    let span = `took ${formatDuration(took)} (ELAPSED)`;
    if (task.startedAt !== undefined && task.startedAt >= task.attemptStartedAt)
      span += `, ${formatDuration(task.startedAt - task.attemptStartedAt)} of it starting the process`;
    else if (isFinishedState(task.state)) span += ', all of it before the task ran';
    spans.push(span);
  } else spans.push(task.state === 'queued' ? 'waiting for a free slot' : 'never started');
  lines.push(...field('', spans.join(' · '), cols));

  if (!isFinishedState(task.state)) {
    if (task.progress)
      lines.push(
        ...field(
          'Progress',
          `${formatPercent(task.progress.fraction * 100)}${task.progress.message ? ` · ${task.progress.message}` : ''}`,
          cols,
        ),
      );
    const usage: string[] = [];
    if (task.pid !== undefined) usage.push(`pid ${task.pid} (its process group)`);
    if (task.usage)
      usage.push(
        `CPU ${formatPercent(task.usage.cpuPercent)}`,
        `RSS ${formatBytes(task.usage.rssBytes)}`,
        `${task.usage.processes} process${task.usage.processes === 1 ? '' : 'es'}`,
      );
    if (usage.length > 0) lines.push(...field('Process', usage.join(' · '), cols));
    if (task.stall) {
      const silent = task.stall.silentForMs + Math.max(0, now - (task.stallSeenAt ?? now));
      lines.push(
        ...field('Stalled', [{ text: `⚠ ${stallText(task.stall, silent)}`, color: stallColor(task.stall) }], cols),
      );
    }
    if (waitingForCpu(task)) lines.push(...field('Waiting', [{ text: cpuWaitText(task), color: 'yellow' }], cols));
  } else if (task.progress) {
    lines.push(
      ...field(
        'Progress',
        `last ${formatPercent(task.progress.fraction * 100)}${task.progress.message ? ` · ${task.progress.message}` : ''}`,
        cols,
      ),
    );
  }

  if (outcome) {
    lines.push(...field('Exit', exitText(outcome), cols));
    if (outcome.error) {
      lines.push(...field('Error', [{ text: errorHead(outcome.error), color: 'red', bold: true } satisfies Seg], cols));
      for (const part of outcome.error.message.split('\n'))
        lines.push(...field('', [{ text: part, color: 'red' }], cols));
      const stack = stackLines(outcome.error);
      stack.forEach((l, i) => lines.push(...field(i === 0 ? 'Stack' : '', [{ text: l, dim: true }], cols)));
    }
    if (outcome.result !== undefined) {
      const r = resultText(outcome.result, cols - LABEL);
      lines.push(...field('Result', r.text, cols));
      if (r.abridged)
        lines.push(
          ...field(
            '',
            [{ text: `(abridged: ${r.size} characters; taskwarden show ${task.id} --json has it all)`, dim: true }],
            cols,
          ),
        );
    }
  }

  lines.push(blank());
  const attemptsTitle: Seg[] = [{ text: 'Attempts', bold: true }];
  if (details.loading) attemptsTitle.push({ text: ' · loading…', dim: true });
  if (details.error) attemptsTitle.push({ text: ` · ${details.error}`, color: 'red' });
  lines.push(...wrapSegs(' ', attemptsTitle, cols, 1));
  const attempts = details.attempts ?? [];
  if (attempts.length > 0) {
    lines.push([{ text: fitCols(['#', 'STATE', 'PID', 'START', 'END', 'TOOK'], cols), dim: true, bold: true }]);
    attempts.forEach((a, i) => {
      const previous = i > 0 ? attempts[i - 1] : undefined;
      const t = attemptTimes(a, previous);
      // the attempt under way: its time so far, as ELAPSED counts it
      if (a.attempt === task.attempt && !isFinishedState(task.state) && task.attemptStartedAt !== undefined) {
        t.start = task.attemptStartedAt;
        t.took = Math.max(0, now - task.attemptStartedAt);
      }
      // a pid equal to the previous attempt's, on an attempt without a start of its own: never spawned
      const pid =
        a.pid !== undefined && !(previous && a.pid === previous.pid && !t.startedByItself) ? String(a.pid) : '—';
      const style = STATE_STYLES[a.state];
      const row = fitCols(
        [
          String(a.attempt),
          `${style.icon} ${a.state}`,
          pid,
          formatClock(t.start),
          t.end !== undefined ? formatClock(t.end) : isFinishedState(a.state) ? '—' : 'now',
          t.took !== undefined ? formatDuration(t.took) : '—',
        ],
        cols,
      );
      lines.push([{ text: row, color: style.color }]);
      const what = attemptOutcome(a);
      if (what) lines.push(...wrapSegs('     ', [{ text: what, dim: true }], cols, 5));
    });
  } else if (!details.loading && !details.error) {
    lines.push([{ text: '  (none recorded)', dim: true }]);
  }

  lines.push(blank());
  const log = details.log;
  const logTitle: Seg[] = [{ text: 'Log', bold: true }];
  if (log.attempt) logTitle.push({ text: ` · attempt ${log.attempt}`, dim: true });
  if (log.lines.length > 0)
    logTitle.push({ text: ` · last ${log.lines.length} line${log.lines.length === 1 ? '' : 's'}`, dim: true });
  if (log.loading) logTitle.push({ text: ' · loading…', dim: true });
  if (log.error) logTitle.push({ text: ` · ${log.error}`, color: 'red' });
  lines.push(...wrapSegs(' ', logTitle, cols, 1));
  if (log.lines.length === 0 && !log.loading) {
    lines.push([
      { text: isFinishedState(task.state) ? '  (this attempt wrote no output)' : '  (no output yet)', dim: true },
    ]);
  }
  for (const l of log.lines) {
    const err = l.startsWith('! ');
    lines.push(...wrapSegs('  ', [{ text: l, ...(err ? { color: 'red' } : {}) }], cols, 4));
  }
  return lines;
}

const ATTEMPT_COLS = [4, 14, 9, 10, 10, 9];
/** One row of the attempts table: fixed columns, shrunk to the width when it is narrow. */
function fitCols(cells: readonly string[], cols: number): string {
  let out = ' ';
  cells.forEach((c, i) => {
    const w = ATTEMPT_COLS[i] ?? 10;
    out += (c.length > w - 1 ? c.slice(0, w - 1) : c).padEnd(w);
  });
  out = out.trimEnd();
  return [...out].length > cols ? [...out].slice(0, cols).join('') : out;
}
