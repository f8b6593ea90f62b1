/**
 * One task row as a finished string, and the table's column layout: pure, so the React table
 * (components/task-table.tsx) and the stop keys' fast paint (fast-paint.ts) draw the very same
 * characters at the very same columns.
 */
import { inverse, paint } from './ansi.js';
import { isFinishedState } from '../journal/recorded-state.js';
import {
  fit,
  formatBytes,
  formatDuration,
  formatElapsed,
  formatPercent,
  oneLine,
  progressBar,
  stallColor,
  stallShortTexts,
  stallText,
  STATE_STYLES,
  type StateStyle,
} from './format.js';
import { waitingForCpu, type TaskView } from './task-view.js';

export interface Layout {
  width: number;
  /** Whether rows carry SGR colours (a colour terminal). */
  colors: boolean;
  /** A blank of the row's width: the measured text of every row (see TaskRow). */
  blank: string;
  id: number;
  name: number;
  state: number;
  bar: number;
  pct: number;
  msg: number;
  elapsed: number;
  cpu: number;
  rss: number;
  attempt: number;
  /** The agent a cluster task runs on; 0: no HOST column (the local daemon's tasks). */
  host: number;
}

/**
 * Column widths for a terminal `width` cells wide; narrow terminals lose the least important
 * columns. `hosts`: a HOST column, for the tasks of a cluster (which agent runs each).
 */
export function tableLayout(width: number, colors = false, hosts = false): Layout {
  const w = Math.max(40, width);
  const id = 4;
  const host = hosts ? (w >= 100 ? 12 : w >= 70 ? 9 : 6) : 0;
  const state = 13;
  const bar = w >= 70 ? 10 : 6;
  const pct = 4;
  const elapsed = w >= 60 ? 7 : 0;
  const cpu = w >= 84 ? 5 : 0;
  const rss = w >= 100 ? 9 : 0;
  const attempt = w >= 90 ? 3 : 0;
  const name = Math.max(8, Math.min(28, Math.floor(w * 0.18)));
  const columns = [id, name, host, state, bar, pct, elapsed, cpu, rss, attempt].filter((c) => c > 0);
  const fixed = columns.reduce((a, b) => a + b, 0) + columns.length; // one space after each
  const msg = Math.max(6, w - fixed - 1);
  const layout = { width: w, colors, blank: '', id, name, host, state, bar, pct, msg, elapsed, cpu, rss, attempt };
  layout.blank = ' '.repeat(rowWidth(layout));
  return layout;
}

function rowWidth(l: Omit<Layout, 'blank' | 'colors' | 'width'>): number {
  const columns = [l.id, l.name, l.host, l.state, l.bar, l.pct, l.msg, l.elapsed, l.cpu, l.rss, l.attempt].filter(
    (c) => c > 0,
  );
  return columns.reduce((a, b) => a + b, 0) + columns.length - 1;
}

const PENDING_STYLES: Record<NonNullable<TaskView['pending']>['op'], StateStyle> = {
  cancel: STATE_STYLES.cancelling,
  stop: STATE_STYLES.cancelling,
  kill: STATE_STYLES.killing,
  restart: { icon: '↻', color: 'cyan', label: 'restarting…' },
};

/** The state shown: an operation asked for here shows at once, before the daemon confirms it. */
export function shownState(task: TaskView): StateStyle {
  if (task.pending) return PENDING_STYLES[task.pending.op];
  return STATE_STYLES[task.state];
}

/**
 * The message cell: a stall, a wait for CPU, the end of a finished task, or the last progress
 * message; `shorter`, where there are any, say the same in less for a cell too narrow for `text`.
 */
export function messageFor(task: TaskView, now: number): { text: string; shorter?: readonly string[]; color?: string } {
  if (task.stall && !isFinishedState(task.state)) {
    const silent = task.stall.silentForMs + Math.max(0, now - (task.stallSeenAt ?? now));
    return {
      text: `⚠ ${stallText(task.stall, silent)}`,
      shorter: stallShortTexts(task.stall, silent).map((short) => `⚠ ${short}`),
      color: stallColor(task.stall),
    };
  }
  if (waitingForCpu(task) && !task.progress?.message) {
    const priority = task.priority === 'idle' || task.priority === 'low' ? ` (${task.priority} priority)` : '';
    return { text: `⏳ waiting for CPU${priority}`, shorter: ['⏳ waiting for CPU', '⏳ no CPU'], color: 'yellow' };
  }
  const outcome = task.outcome;
  if (outcome && isFinishedState(task.state)) {
    switch (outcome.state) {
      case 'completed':
        // the same span as ELAPSED: the attempt, its process start-up included
        return {
          text: `done in ${formatDuration(outcome.durationMs)}${earlyText(outcome.stopReason)}`,
          color: 'green',
        };
      case 'failed':
        return {
          text: oneLine(outcome.error ? outcome.error.message : `exit code ${outcome.exitCode ?? '?'}`),
          color: 'red',
        };
      case 'killed':
        return {
          text: `killed (${outcome.signal ?? 'SIGKILL'})${outcome.escalated ? ', escalated after the grace period' : ''}${reasonText(outcome.stopReason)}`,
          color: 'magenta',
        };
      case 'cancelled':
        return { text: `cancelled${reasonText(outcome.stopReason)}`, color: 'yellow' };
      case 'interrupted':
        return { text: 'interrupted (the daemon stopped while it ran)', color: 'red' };
    }
  }
  return { text: task.progress?.message ? oneLine(task.progress.message) : '' };
}

/** A task that returned a result when asked to stop ended early: its row says on what. */
function earlyText(reason: TaskView['stopReason']): string {
  if (reason === undefined) return '';
  return reason === 'cancel' ? ', on cancel' : `, asked to stop${reasonText(reason)}`;
}

function reasonText(reason: TaskView['stopReason']): string {
  switch (reason) {
    case 'stop-all':
      return ' by the emergency stop';
    case 'timeout':
      return ' (timeout)';
    case 'stall':
      return ' by the watchdog';
    case 'restart':
      return ' for a restart';
    case 'shutdown':
      return ' (daemon shutdown)';
    default:
      return '';
  }
}

/**
 * The current attempt's time, from its start (its process being started: start-up included, as in
 * the outcome's duration and "done in") to its end, or to now. Blank while queued.
 */
export function elapsedFor(task: TaskView, now: number): string {
  if (isFinishedState(task.state)) {
    if (task.outcome) return formatElapsed(task.outcome.durationMs);
    return task.attemptStartedAt !== undefined && task.endedAt !== undefined
      ? formatElapsed(Math.max(0, task.endedAt - task.attemptStartedAt))
      : '';
  }
  return task.attemptStartedAt === undefined ? '' : formatElapsed(Math.max(0, now - task.attemptStartedAt));
}

/** The table's header line for a layout. */
export function headerText(layout: Layout): string {
  let text =
    fit('ID', layout.id) +
    ' ' +
    fit('NAME', layout.name) +
    ' ' +
    (layout.host ? fit('HOST', layout.host) + ' ' : '') +
    fit('STATE', layout.state) +
    ' ' +
    fit('PROGRESS', layout.bar + 1 + layout.pct) +
    ' ' +
    fit('MESSAGE', layout.msg);
  if (layout.elapsed) text += ' ' + fit('ELAPSED', layout.elapsed, 'right');
  if (layout.cpu) text += ' ' + fit('CPU', layout.cpu, 'right');
  if (layout.rss) text += ' ' + fit('RSS', layout.rss, 'right');
  if (layout.attempt) text += ' ' + fit('#', layout.attempt, 'right');
  return text;
}

/** One table row as a finished string of exactly `layout.width` cells, styled when `layout.colors`. */
export function rowText(task: TaskView, selected: boolean, layout: Layout, now: number): string {
  const colors = layout.colors;
  const style = shownState(task);
  const finished = isFinishedState(task.state) && !task.pending;
  // A task that returned when asked to stop got as far as its last progress, not to the end.
  const fraction =
    task.state === 'completed' && !(task.outcome?.stopReason && task.progress) ? 1 : task.progress?.fraction;
  const message = messageFor(task, now);
  // Without colours the selection shows as '>' after the id.
  let text = fit(task.id, layout.id - 1) + (selected && !colors ? '>' : ' ') + ' ' + fit(task.name, layout.name) + ' ';
  if (layout.host) text += fit(task.host ?? '-', layout.host) + ' ';
  text +=
    paint(
      fit(`${style.icon} ${style.label}`, layout.state),
      { color: style.color, bold: task.pending !== undefined },
      colors,
    ) + ' ';
  text += paint(progressBar(fraction, layout.bar), { color: finished ? 'gray' : style.color }, colors) + ' ';
  text += fit(fraction === undefined ? '' : formatPercent(fraction * 100), layout.pct, 'right') + ' ';
  const forms = [message.text, ...(message.shorter ?? [])];
  const messageText = forms.find((form) => [...form].length <= layout.msg) ?? forms.at(-1)!;
  text += paint(fit(messageText, layout.msg), message.color ? { color: message.color } : {}, colors);
  if (layout.elapsed) text += ' ' + fit(elapsedFor(task, now), layout.elapsed, 'right');
  if (layout.cpu) text += ' ' + fit(finished ? '' : formatPercent(task.usage?.cpuPercent), layout.cpu, 'right');
  if (layout.rss) text += ' ' + fit(finished ? '' : formatBytes(task.usage?.rssBytes), layout.rss, 'right');
  if (layout.attempt) text += ' ' + fit(String(task.attempt), layout.attempt, 'right');
  return selected ? inverse(text, colors) : text;
}
