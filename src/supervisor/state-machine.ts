/**
 * The task state machine: pure, no I/O, no clocks. Events in, new state and
 * actions out; the Supervisor executes the actions against real processes.
 *
 * There is one stop path whatever asked for the stop (a user, stopAll, the
 * watchdog, a timeout, shutdown): 'cancel' (graceful, escalating) or 'kill'
 * (immediate). A stop is done only when the leader is reaped AND its group is
 * empty ('exited' then 'group-empty'); only then is a terminal state reached.
 */
import type { StopReason, TaskError, TaskOutcome, TaskState, TerminalState } from './types.js';
import { isTerminalState } from './types.js';
import { taskError } from '../common/task-errors.js';

export type RunnerReport =
  { kind: 'result'; value: unknown } | { kind: 'error'; error: TaskError } | { kind: 'cancelled'; error?: TaskError };

export interface MachineState {
  readonly state: TaskState;
  readonly kind: 'module' | 'command';
  readonly attempt: number;
  readonly stopReason?: StopReason;
  /** A graceful cancel ran out of grace and was turned into SIGKILL. */
  readonly escalated: boolean;
  /** restart() asked: when this attempt is fully gone, start the next one. */
  readonly restartPending: boolean;
  readonly restartDelayMs: number;
  /** Leftover group members after the leader exited on its own are being stopped. */
  readonly draining: boolean;
  readonly report?: RunnerReport;
  readonly exit?: { code: number | null; signal: NodeJS.Signals | null };
  readonly attemptStartedAt?: number;
  readonly outcome?: TaskOutcome;
  /** Why a stop was forced, when it is more than the stop reason says (e.g. the restart limit). */
  readonly stopError?: TaskError;
  /** The kernel's OOM killer ended a process of the task: the attempt fails with this, whatever else ends it. */
  readonly oomError?: TaskError;
  /** The attempt a restart ended (it was killed for the next one): set on the next attempt's first state. */
  readonly endedAttempt?: TaskOutcome;
}

export type MachineEvent =
  | { type: 'admit'; at: number }
  | { type: 'spawned'; at: number }
  | { type: 'spawn-failed'; error: TaskError; at: number }
  | { type: 'started'; at: number }
  | { type: 'report'; report: RunnerReport; at: number }
  | { type: 'exited'; code: number | null; signal: NodeJS.Signals | null; at: number }
  | { type: 'group-lingering'; at: number }
  | { type: 'group-empty'; at: number }
  | { type: 'cancel'; reason: StopReason; at: number }
  | { type: 'kill'; reason: StopReason; error?: TaskError; at: number }
  | { type: 'restart'; reason: StopReason; delayMs?: number; at: number }
  | { type: 'grace-expired'; at: number }
  /** Freeze a running task (it keeps its slot and its memory), and thaw it again. */
  | { type: 'pause'; at: number }
  | { type: 'resume'; at: number }
  /** The task went over its memory limit and the kernel killed a process of it: the rest goes too. */
  | { type: 'oom-killed'; error: TaskError; at: number }
  /**
   * A reusable runner reported the task's result, its output ended (end markers) and it passed
   * every check to serve another task: the attempt is over without an exit.
   */
  | { type: 'released'; at: number };

export type MachineAction =
  | { type: 'spawn'; delayMs: number }
  | { type: 'abort'; reason: StopReason }
  | { type: 'signal'; signal: 'SIGTERM' | 'SIGKILL' }
  /**
   * Task processes run niced; a stopping one gets its normal share back for a short window so its
   * cleanup and exit are not slowed: with every transition into cancelling or killing and when
   * leftovers of a finished leader are drained. After the signal, which it must not delay.
   */
  | { type: 'restore-priority' }
  /** Freeze every process of the task (cgroup.freeze, or SIGSTOP to its group), or thaw them. */
  | { type: 'freeze' }
  | { type: 'thaw' }
  | { type: 'arm-grace' }
  | { type: 'disarm-grace' }
  | { type: 'watch-group' }
  | { type: 'release-slot' }
  /** The runner stays for the next task of its kind (after 'released'); it is no longer this task's. */
  | { type: 'keep-runner' }
  /** The runner is not to serve another task after all (a stop or a pause came first): it is told to exit. */
  | { type: 'retire-runner' }
  | { type: 'enqueue' }
  | { type: 'settle'; outcome: TaskOutcome };

export interface Transition {
  next: MachineState;
  actions: MachineAction[];
}

export function initialState(kind: 'module' | 'command', attempt = 1): MachineState {
  return {
    state: 'queued',
    kind,
    attempt,
    escalated: false,
    restartPending: false,
    restartDelayMs: 0,
    draining: false,
  };
}

/** True for states in which the task holds one of the supervisor's concurrency slots. */
export function holdsSlot(state: TaskState): boolean {
  return (
    state === 'starting' || state === 'running' || state === 'paused' || state === 'cancelling' || state === 'killing'
  );
}

const unchanged = (s: MachineState): Transition => ({ next: s, actions: [] });

export function transition(s: MachineState, e: MachineEvent): Transition {
  if (isTerminalState(s.state)) return fromTerminal(s, e);
  if (s.state === 'queued') return fromQueued(s, e);
  return fromActive(s, e);
}

function fromTerminal(s: MachineState, e: MachineEvent): Transition {
  // Only restart does anything once a task has ended: it runs the same spec again.
  if (e.type !== 'restart') return unchanged(s);
  return {
    next: { ...freshAttempt(s), state: 'queued', restartDelayMs: e.delayMs ?? 0 },
    actions: [{ type: 'enqueue' }],
  };
}

function fromQueued(s: MachineState, e: MachineEvent): Transition {
  switch (e.type) {
    case 'admit':
      return {
        next: { ...s, state: 'starting', attemptStartedAt: e.at },
        actions: [{ type: 'spawn', delayMs: s.restartDelayMs }],
      };
    case 'cancel':
    case 'kill': {
      // Never started: nothing to signal. It ends 'cancelled' whichever stop was asked.
      const next = { ...s, stopReason: e.reason, attemptStartedAt: e.at };
      return finish(next, 'cancelled', e.at);
    }
    default:
      return unchanged(s);
  }
}

function fromActive(s: MachineState, e: MachineEvent): Transition {
  switch (e.type) {
    case 'spawned':
      // A command has no runner to say 'started': once spawned, it is running.
      return s.kind === 'command' && s.state === 'starting'
        ? { next: { ...s, state: 'running' }, actions: [] }
        : unchanged(s);
    case 'started':
      return s.state === 'starting' ? { next: { ...s, state: 'running' }, actions: [] } : unchanged(s);
    case 'spawn-failed':
      return finish({ ...s, report: { kind: 'error', error: e.error } }, 'failed', e.at, [
        { type: 'disarm-grace' },
        { type: 'release-slot' },
      ]);
    case 'report':
      return s.report ? unchanged(s) : { next: { ...s, report: e.report }, actions: [] };
    case 'exited':
      return s.exit
        ? unchanged(s)
        : { next: { ...s, exit: { code: e.code, signal: e.signal } }, actions: [{ type: 'watch-group' }] };
    case 'group-lingering':
      // The leader ended on its own but left processes in its group: stop them like a cancel would.
      if (s.draining || s.state === 'cancelling' || s.state === 'killing') return unchanged(s);
      return {
        next: { ...s, draining: true },
        actions: [
          { type: 'signal', signal: 'SIGTERM' },
          ...thawIfPaused(s),
          { type: 'restore-priority' },
          { type: 'arm-grace' },
        ],
      };
    case 'group-empty':
      return s.exit ? onGone(s, e.at) : unchanged(s);
    case 'cancel':
      return onCancel(s, e.reason);
    case 'kill':
      return onKill(e.error ? { ...s, stopError: e.error } : s, e.reason);
    case 'restart':
      return onRestart(s, e.reason, e.delayMs ?? 0);
    case 'grace-expired':
      return onGraceExpired(s);
    case 'oom-killed':
      return onOomKilled(s, e.error);
    case 'pause':
      return s.state === 'running' ? { next: { ...s, state: 'paused' }, actions: [{ type: 'freeze' }] } : unchanged(s);
    case 'resume':
      return s.state === 'paused' ? { next: { ...s, state: 'running' }, actions: [{ type: 'thaw' }] } : unchanged(s);
    case 'released':
      return onReleased(s, e.at);
    default:
      return unchanged(s);
  }
}

function onCancel(s: MachineState, reason: StopReason): Transition {
  // A stop overrides a restart that is under way: stopAll must not see a task come back.
  if (s.state === 'killing')
    return s.restartPending ? { next: { ...s, restartPending: false, stopReason: reason }, actions: [] } : unchanged(s);
  if (s.state === 'cancelling') return unchanged(s);
  return {
    next: { ...s, state: 'cancelling', stopReason: reason },
    // The signal first: it stops the whole group even if the runner never reads its IPC channel again.
    // A paused task is thawed right after it: it wakes with the signal pending, and its grace counts from now.
    actions: [
      { type: 'signal', signal: 'SIGTERM' },
      ...thawIfPaused(s),
      { type: 'restore-priority' },
      { type: 'abort', reason },
      { type: 'arm-grace' },
    ],
  };
}

function onKill(s: MachineState, reason: StopReason): Transition {
  if (s.state === 'killing')
    return s.restartPending ? { next: { ...s, restartPending: false, stopReason: reason }, actions: [] } : unchanged(s);
  // kill during cancelling escalates at once; the user's kill is the reason now. Priority is
  // restored for the exit either way: a cancel's priority window may be over.
  return {
    next: { ...s, state: 'killing', stopReason: reason },
    actions: [
      { type: 'disarm-grace' },
      { type: 'signal', signal: 'SIGKILL' },
      ...thawIfPaused(s),
      { type: 'restore-priority' },
    ],
  };
}

/** SIGKILL ends frozen and stopped processes alike; a SIGTERM needs them running to be handled. */
function thawIfPaused(s: MachineState): MachineAction[] {
  return s.state === 'paused' ? [{ type: 'thaw' }] : [];
}

function onRestart(s: MachineState, reason: StopReason, delayMs: number): Transition {
  const marked = { ...s, restartPending: true, restartDelayMs: delayMs };
  if (s.state === 'killing') return { next: marked, actions: [] };
  return {
    next: { ...marked, state: 'killing', stopReason: reason },
    actions: [
      { type: 'disarm-grace' },
      { type: 'signal', signal: 'SIGKILL' },
      ...thawIfPaused(s),
      { type: 'restore-priority' },
    ],
  };
}

function onGraceExpired(s: MachineState): Transition {
  if (s.state === 'cancelling') {
    // Back to normal priority for the exit: the cancel's priority window is long over.
    return {
      next: { ...s, state: 'killing', escalated: true },
      actions: [{ type: 'signal', signal: 'SIGKILL' }, { type: 'restore-priority' }],
    };
  }
  // Leftovers of a leader that ended on its own, or a kill not yet confirmed: SIGKILL again is harmless.
  if (s.draining || s.state === 'killing') return { next: s, actions: [{ type: 'signal', signal: 'SIGKILL' }] };
  return unchanged(s);
}

/** What survived the OOM killer is killed at once (v1 memory cgroups end one process, not the task). */
function onOomKilled(s: MachineState, error: TaskError): Transition {
  if (s.oomError) return unchanged(s);
  const next: MachineState = { ...s, oomError: error };
  if (s.state === 'killing') return { next, actions: [{ type: 'signal', signal: 'SIGKILL' }] };
  return {
    next: { ...next, state: 'killing' },
    actions: [
      { type: 'disarm-grace' },
      { type: 'signal', signal: 'SIGKILL' },
      ...thawIfPaused(s),
      { type: 'restore-priority' },
    ],
  };
}

/**
 * Only a running task with a result is finished by its runner's release. During a stop the stop
 * goes on (the runner is told to exit as well); a paused one ends once resumed, by the exit.
 */
function onReleased(s: MachineState, at: number): Transition {
  if (s.exit) return unchanged(s);
  if (s.state !== 'running' || s.report?.kind !== 'result') return { next: s, actions: [{ type: 'retire-runner' }] };
  return finish(s, 'completed', at, [{ type: 'disarm-grace' }, { type: 'keep-runner' }, { type: 'release-slot' }]);
}

/** The leader is reaped and its group is empty: the attempt is over. */
function onGone(s: MachineState, at: number): Transition {
  if (s.restartPending) {
    const endedAttempt = outcomeOf(s, 'killed', at);
    const next: MachineState = { ...freshAttempt(s), state: 'starting', attemptStartedAt: at, endedAttempt };
    return { next, actions: [{ type: 'disarm-grace' }, { type: 'spawn', delayMs: s.restartDelayMs }] };
  }
  return finish(s, finalState(s), at, [{ type: 'disarm-grace' }, { type: 'release-slot' }]);
}

/**
 * What the attempt amounts to. What the task itself reported wins: a result is
 * never thrown away because a stop raced with it (nothing lost); then the stop
 * that was under way; then the exit status.
 */
function finalState(s: MachineState): TerminalState {
  if (s.report?.kind === 'result') return 'completed';
  if (s.report?.kind === 'error' || s.oomError) return 'failed';
  if (s.state === 'killing') return 'killed';
  if (s.state === 'cancelling' || s.report?.kind === 'cancelled') return 'cancelled';
  if (s.kind === 'command' && s.exit?.code === 0) return 'completed';
  return 'failed';
}

function finish(s: MachineState, state: TerminalState, at: number, actions: MachineAction[] = []): Transition {
  const outcome = outcomeOf(s, state, at);
  return { next: { ...s, state, outcome }, actions: [...actions, { type: 'settle', outcome }] };
}

function outcomeOf(s: MachineState, state: TerminalState, at: number): TaskOutcome {
  const outcome: TaskOutcome = {
    state,
    durationMs: Math.max(0, at - (s.attemptStartedAt ?? at)),
    attempt: s.attempt,
    ...(s.exit ? { exitCode: s.exit.code, signal: s.exit.signal } : {}),
    ...(s.stopReason ? { stopReason: s.stopReason } : {}),
    ...(s.escalated ? { escalated: true } : {}),
  };
  if (s.report?.kind === 'result' && state === 'completed') outcome.result = s.report.value;
  const error = outcomeError(s, state);
  if (error) outcome.error = error;
  return outcome;
}

function outcomeError(s: MachineState, state: TerminalState): TaskError | undefined {
  if (state === 'failed' && s.oomError) return s.oomError;
  if (s.report?.kind === 'error') return s.report.error;
  if (state === 'killed' && s.stopError) return s.stopError;
  if (state === 'killed' && s.escalated) {
    return taskError('GRACE_EXPIRED', 'the task did not stop within the grace period and was killed (SIGKILL)');
  }
  if (state !== 'failed' || !s.exit) return undefined;
  if (s.exit.signal) {
    return taskError(
      'EXIT_SIGNAL',
      `the task process was ended by ${s.exit.signal}, which taskwarden did not send (e.g. the OOM killer)`,
    );
  }
  const what = s.kind === 'module' ? 'the task process exited without reporting a result' : 'the command failed';
  return taskError('EXIT_CODE', `${what} (exit code ${s.exit.code})`);
}

function freshAttempt(s: MachineState): MachineState {
  return {
    state: s.state,
    kind: s.kind,
    attempt: s.attempt + 1,
    escalated: false,
    restartPending: false,
    restartDelayMs: s.restartDelayMs,
    draining: false,
  };
}
