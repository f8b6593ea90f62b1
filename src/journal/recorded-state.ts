/**
 * A task as it is recorded and shown, which is more than the supervisor's machine knows: a task
 * can also be 'interrupted', when the daemon (or agent) that ran it died and the next one's
 * recovery settled it. The journal records it, the protocol carries it, the front ends show it;
 * the state machine never produces it. Light on purpose (types and one list): front ends import
 * it without the journal's SQLite.
 */
import {
  ACTIVE_STATES,
  TERMINAL_STATES,
  type TaskOutcome,
  type TaskSnapshot,
  type TaskState,
  type TerminalState,
} from '../supervisor/types.js';

export const RECORDED_TERMINAL_STATES = [...TERMINAL_STATES, 'interrupted'] as const;
export const RECORDED_STATES = [...ACTIVE_STATES, ...RECORDED_TERMINAL_STATES] as const;
export type RecordedTerminalState = TerminalState | 'interrupted';
export type RecordedState = TaskState | 'interrupted';

/** True for a state a recorded task ends in (the supervisor's terminal states and 'interrupted'). */
export function isFinishedState(state: string): state is RecordedTerminalState {
  return (RECORDED_TERMINAL_STATES as readonly string[]).includes(state);
}

export interface RecordedOutcome extends Omit<TaskOutcome, 'state'> {
  state: RecordedTerminalState;
}

/** A task snapshot as recorded or shown: the supervisor's, or one its state says was interrupted. */
export interface RecordedTask extends Omit<TaskSnapshot, 'state' | 'outcome'> {
  state: RecordedState;
  outcome?: RecordedOutcome;
}
