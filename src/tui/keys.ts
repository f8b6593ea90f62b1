/** Key bindings: a pure map from a key press (as Ink's useInput reports it) and the mode to an action. */
import type { Mode } from './store.js';

export type Action =
  | { type: 'template'; key: number }
  | { type: 'move'; delta: number | 'start' | 'end' | 'pageUp' | 'pageDown' }
  | { type: 'cancel' }
  | { type: 'kill' }
  | { type: 'restart' }
  | { type: 'stopAll' }
  | { type: 'toggleLog' }
  | { type: 'clearFinished' }
  | { type: 'help' }
  | { type: 'closeOverlay' }
  | { type: 'quit' }
  | { type: 'interrupt' }
  | { type: 'quitStop' }
  | { type: 'quitDetach' }
  | { type: 'quitStay' }
  | { type: 'reconnect' };

/** The fields of Ink's Key this module reads. */
export interface KeyInfo {
  upArrow?: boolean;
  downArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  ctrl?: boolean;
  meta?: boolean;
}

export interface KeyHelp {
  keys: string;
  what: string;
}

export const KEY_HELP: readonly KeyHelp[] = [
  { keys: '1-9', what: 'start task template N' },
  { keys: '↑ ↓ PgUp PgDn Home End', what: 'select a task' },
  { keys: 'k', what: 'cancel the selected task gracefully (SIGTERM; SIGKILL after the grace period)' },
  { keys: 'K', what: 'kill the selected task now (SIGKILL to its whole process group)' },
  { keys: 'r', what: 'restart the selected task (kill this attempt, run it again)' },
  { keys: 's', what: 'emergency stop: stop every task' },
  { keys: 'Enter', what: 'show or hide the log of the selected task' },
  { keys: 'c', what: 'clear finished rows from the table' },
  { keys: 'R', what: 'start the daemon again when it is gone' },
  { keys: '?', what: 'this help' },
  { keys: 'q  Ctrl+C', what: 'quit (asks first while tasks run)' },
];

export const FOOTER_KEYS = '1-9 start  ↑↓ select  k cancel  K kill  r restart  s stop all  ⏎ log  c clear  ? help  q quit';

/** The action for one key press, or undefined when the key means nothing in this mode. */
export function actionFor(input: string, key: KeyInfo, mode: Mode): Action | undefined {
  const ctrlC = key.ctrl === true && input === 'c';
  if (mode === 'quitting') return ctrlC ? { type: 'quitDetach' } : undefined;
  if (mode === 'quit') {
    if (ctrlC || input === 's' || input === 'S' || input === 'y') return { type: 'quitStop' };
    if (input === 'd' || input === 'D') return { type: 'quitDetach' };
    if (key.escape || input === 'n' || input === 'q') return { type: 'quitStay' };
    return undefined;
  }
  if (ctrlC) return { type: 'interrupt' };
  if (key.ctrl) return undefined;
  if (mode === 'help') {
    if (input === 'q') return { type: 'quit' };
    return { type: 'closeOverlay' };
  }
  if (key.upArrow) return { type: 'move', delta: -1 };
  if (key.downArrow) return { type: 'move', delta: 1 };
  if (key.pageUp) return { type: 'move', delta: 'pageUp' };
  if (key.pageDown) return { type: 'move', delta: 'pageDown' };
  if (key.home) return { type: 'move', delta: 'start' };
  if (key.end) return { type: 'move', delta: 'end' };
  if (key.return) return { type: 'toggleLog' };
  if (key.escape) return { type: 'closeOverlay' };
  if (input.length === 1 && input >= '1' && input <= '9') return { type: 'template', key: Number(input) };
  switch (input) {
    case 'k':
      return { type: 'cancel' };
    case 'K':
      return { type: 'kill' };
    case 'r':
      return { type: 'restart' };
    case 'R':
      return { type: 'reconnect' };
    case 's':
    case 'S':
      return { type: 'stopAll' };
    case 'c':
      return { type: 'clearFinished' };
    case '?':
    case 'h':
      return { type: 'help' };
    case 'q':
    case 'Q':
      return { type: 'quit' };
    default:
      return undefined;
  }
}

/**
 * Splits what Ink delivers as one input into key presses: several printable characters that
 * arrived in one read (fast typing, a test writing "1k") are separate keys here.
 */
export function splitInput(input: string): string[] {
  if (input.length <= 1) return [input];
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(input)) return [input];
  return [...input];
}
