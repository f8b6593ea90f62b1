/**
 * A task as the table shows it, made from the daemon's snapshots: what belongs to the current
 * attempt only (a new attempt shows nothing of the one before), and an operation asked for on this
 * screen until the daemon reflects it. Pure.
 */
import type { Priority } from '../process/priority.js';
import { type Progress, type ResourceUsage, type StallInfo } from '../supervisor/types.js';
import { isFinishedState, type RecordedTask, type RecordedState } from '../journal/recorded-state.js';

export type PendingOp = 'cancel' | 'kill' | 'restart' | 'stop';

export interface TaskView {
  id: string;
  name: string;
  state: RecordedState;
  attempt: number;
  progress?: Progress;
  usage?: ResourceUsage;
  stall?: StallInfo;
  /** Local time the stall report (its silentForMs) was taken: the silence shown is silentForMs + (now - stallSeenAt). */
  stallSeenAt?: number;
  /** The process of this attempt, once it has one. */
  pid?: number;
  /**
   * Whether this attempt has reached 'running'. Until it has, the daemon's snapshots of a new
   * attempt may still carry the previous attempt's pid, progress, usage, stall and start time:
   * none of them is taken (see viewFromSnapshot).
   */
  ran: boolean;
  createdAt: number;
  /**
   * When this attempt began: it was admitted and its process is being started (ELAPSED counts from
   * it, as the outcome's duration does). Exact for a finished attempt (its end less its duration);
   * for an active one, when this UI first saw it starting (else when it started running).
   */
  attemptStartedAt?: number;
  /** When this attempt started running (absent until it has). */
  startedAt?: number;
  endedAt?: number;
  outcome?: RecordedTask['outcome'];
  stopReason?: RecordedTask['stopReason'];
  /** An operation asked for and not yet reflected by the daemon: shown at once, before any reply. */
  pending?: { op: PendingOp; attempt: number };
  /** The CPU priority the task's spec asks for; absent: the daemon's default ('idle' unless it was started otherwise). */
  priority?: Priority;
  /** The cluster agent that runs (or last ran) the task; absent for the local daemon's tasks. */
  host?: string;
}

/** A task as the UI receives it: a daemon's snapshot, or a cluster's, which adds the agent it runs on. */
export type ShownSnapshot = RecordedTask & { host?: string };

/**
 * Below this share of one core a runnable task is waiting for CPU rather than computing: what the
 * screen says of it (the watchdog's own diagnosis calls any runnable task spinning).
 */
export const STARVED_CPU_PERCENT = 10;

/**
 * Whether the task's processes want CPU and hardly get any (at idle priority on a busy machine all
 * other work comes first): runnable when last sampled, yet given under a tenth of a core.
 */
export function waitingForCpu(task: Pick<TaskView, 'state' | 'usage'>): boolean {
  const usage = task.usage;
  return (
    (task.state === 'starting' || task.state === 'running') &&
    usage?.runnable === true &&
    usage.windowMs > 0 &&
    usage.cpuPercent < STARVED_CPU_PERCENT
  );
}

export const STATE_RANK: Record<RecordedState, number> = {
  queued: 0,
  starting: 1,
  running: 2,
  // Same rank as running: a task goes back and forth between the two.
  paused: 2,
  cancelling: 3,
  killing: 4,
  completed: 5,
  failed: 5,
  cancelled: 5,
  killed: 5,
  interrupted: 5,
};

export function isActive(task: { state: RecordedState }): boolean {
  return !isFinishedState(task.state);
}
/** How far off a snapshot's times may be and still belong together (the daemon stamps them a few ms apart). */
const CLOCK_SLACK_MS = 250;

/**
 * Whether the attempt of this snapshot has run (reached 'running'). Queued and starting attempts
 * have not; a stopping or finished one has if it was seen running; one seen for the first time
 * (after connecting) has if its start time belongs to it: an attempt's outcome counts from the
 * moment it was admitted, so a start time before that is an earlier attempt's.
 */
function attemptRan(task: RecordedTask, previous: TaskView | undefined): boolean {
  if (task.state === 'running') return true;
  if (task.state === 'queued' || task.state === 'starting') return false;
  if (previous !== undefined && previous.attempt === task.attempt) return previous.ran;
  if (task.startedAt === undefined) return false;
  if (task.attempt <= 1) return true;
  const outcome = task.outcome;
  if (outcome && task.endedAt !== undefined && outcome.attempt === task.attempt) {
    return task.startedAt >= task.endedAt - outcome.durationMs - CLOCK_SLACK_MS;
  }
  return true;
}

export function viewFromSnapshot(task: ShownSnapshot, previous?: TaskView, now = Date.now()): TaskView {
  const sameAttempt = previous !== undefined && previous.attempt === task.attempt;
  const ran = attemptRan(task, previous);
  const view: TaskView = {
    id: task.id,
    name: task.name,
    state: task.state,
    attempt: task.attempt,
    ran,
    createdAt: task.createdAt,
  };
  // What belongs to the attempt's process is taken only once the attempt has run: before that, a
  // snapshot of a new attempt may still carry the previous attempt's (the supervisor keeps them
  // until the new process is spawned).
  if (ran) {
    const progress = task.progress ?? (sameAttempt ? previous.progress : undefined);
    if (progress) view.progress = progress;
    const usage = task.usage ?? (sameAttempt ? previous.usage : undefined);
    if (usage) view.usage = usage;
    if (task.pid !== undefined) view.pid = task.pid;
    else if (sameAttempt && previous.pid !== undefined && !isFinishedState(task.state)) view.pid = previous.pid;
    if (task.stall && !isFinishedState(task.state)) {
      // silentForMs is as of now: count on from now (keeping an older arrival time would count the silence twice)
      view.stall = task.stall;
      view.stallSeenAt = now;
    } else if (sameAttempt && previous.stall && previous.state === task.state && !isFinishedState(task.state)) {
      view.stall = previous.stall;
      if (previous.stallSeenAt !== undefined) view.stallSeenAt = previous.stallSeenAt;
    }
    if (task.startedAt !== undefined) view.startedAt = task.startedAt;
  }
  if (task.endedAt !== undefined && isFinishedState(task.state)) view.endedAt = task.endedAt;
  if (task.outcome && task.outcome.attempt === task.attempt) view.outcome = task.outcome;
  if (view.outcome && view.endedAt !== undefined) view.attemptStartedAt = view.endedAt - view.outcome.durationMs;
  else if (task.state !== 'queued') {
    const at =
      (sameAttempt ? previous.attemptStartedAt : undefined) ??
      view.startedAt ??
      (isFinishedState(task.state) ? undefined : now);
    if (at !== undefined) view.attemptStartedAt = at;
  }
  if (task.stopReason) view.stopReason = task.stopReason;
  if (task.spec?.priority) view.priority = task.spec.priority;
  if (typeof task.host === 'string') view.host = task.host;
  if (previous?.pending && !pendingSettled(previous.pending, view)) view.pending = previous.pending;
  return view;
}

/** Whether the daemon's picture of a task now shows what the pending operation asked for. */
export function pendingSettled(
  pending: NonNullable<TaskView['pending']>,
  task: Pick<TaskView, 'state' | 'attempt'>,
): boolean {
  if (task.attempt > pending.attempt) return true;
  switch (pending.op) {
    case 'cancel':
    case 'stop':
      return task.state === 'cancelling' || task.state === 'killing' || isFinishedState(task.state);
    case 'kill':
      return task.state === 'killing' || isFinishedState(task.state);
    case 'restart':
      return false;
  }
}
