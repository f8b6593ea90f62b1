/**
 * The exit codes of the taskwarden command, every subcommand and the terminal UI, in one place:
 * scripts branch on them, so one meaning has one number everywhere.
 */
import type { RecordedTerminalState } from '../journal/recorded-state.js';

export const EXIT = {
  ok: 0,
  /** The work failed (a task, an image), or the command could not do what it was asked. */
  failure: 1,
  /** A bad argument, an unknown id, a bad config file, no terminal for the UI. */
  usage: 2,
  /** Stopped by Ctrl+C or a cancel (128 + SIGINT), as a shell reports it. */
  interrupted: 130,
  /** Killed (128 + SIGKILL), as a shell reports it. */
  killed: 137,
} as const;

/** `run --wait`: the task's end state as the command's exit code. */
export const OUTCOME_EXIT: Record<RecordedTerminalState, number> = {
  completed: EXIT.ok,
  failed: EXIT.failure,
  cancelled: EXIT.interrupted,
  killed: EXIT.killed,
  interrupted: EXIT.failure,
};
