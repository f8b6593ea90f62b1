/** Key bindings: a pure map from a key press (as Ink's useInput reports it) and the mode to an action. */
import type { Mode } from './ui-state.js';

export type Action =
  | { type: 'template'; key: number }
  | { type: 'move'; delta: number | 'start' | 'end' | 'pageUp' | 'pageDown' }
  | { type: 'cancel' }
  | { type: 'kill' }
  | { type: 'restart' }
  | { type: 'pause' }
  | { type: 'stopAll' }
  | { type: 'toggleLog' }
  | { type: 'details' }
  | { type: 'scroll'; delta: number | 'start' | 'end' | 'pageUp' | 'pageDown' }
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
  { keys: '1-9', what: 'start task template N (listed below)' },
  { keys: '↑ ↓ PgUp PgDn Home End', what: 'select a task' },
  { keys: 'k', what: 'cancel the selected task gracefully (SIGTERM; SIGKILL after the grace period)' },
  { keys: 'K', what: 'kill the selected task now (SIGKILL to every process of it)' },
  { keys: 'r', what: 'restart the selected task (kill this attempt, run it again)' },
  { keys: 'p', what: 'pause the selected task (freeze every process of it where it is), or resume it' },
  { keys: 's', what: 'emergency stop: stop every task' },
  { keys: 'Enter', what: 'details of the selected task: state, error and stack, result, attempts, log tail' },
  { keys: 'l', what: 'show or hide the log pane of the selected task' },
  { keys: 'c', what: 'clear finished rows from the table (they stay cleared when you come back)' },
  { keys: 'R', what: 'start the daemon again when it is gone' },
  { keys: '?', what: 'this help' },
  { keys: 'Esc', what: 'close the help, the details or the log pane' },
  { keys: 'q  Ctrl+C', what: 'quit (asks first while tasks run)' },
];

/**
 * The key hints of the last line, most important first: what does not fit is left out, never cut.
 * Quitting and the help (which lists every key) come right after starting and stopping a task, so
 * that they stay on the narrowest screen.
 */
const FOOTER_HINTS: ReadonlyArray<readonly [key: string, what: string, short?: string]> = [
  ['1-9', 'start'],
  ['k', 'cancel'],
  ['K', 'kill'],
  ['q', 'quit'],
  ['?', 'help'],
  ['r', 'restart'],
  ['s', 'stop all', 'stop'],
  ['⏎', 'details'],
  ['p', 'pause'],
  ['l', 'log'],
  ['c', 'clear'],
  ['↑↓', 'select'],
];
const PAGE_HINTS: ReadonlyArray<readonly [key: string, what: string, short?: string]> = [
  ['↑↓ PgUp PgDn', 'scroll'],
  ['Esc', 'close'],
  ['q', 'quit'],
  ['k K r s', 'stop keys work here', 'stop keys'],
];

const QUIT_HINTS: ReadonlyArray<readonly [key: string, what: string, short?: string]> = [
  ['s', 'stop every task, then quit', 'stop and quit'],
  ['d', 'detach: the tasks keep running in the daemon', 'detach'],
  ['Esc', 'stay'],
];
const QUITTING_HINTS: ReadonlyArray<readonly [key: string, what: string, short?: string]> = [
  ['Ctrl+C', 'leave them running in the daemon (detach)', 'detach'],
];
const LEAVING_HINTS: ReadonlyArray<readonly [key: string, what: string, short?: string]> = [
  ['Ctrl+C', 'quit now, leaving the daemon running', 'quit now'],
];

/** The full footer (all hints, in screen order) for a wide terminal. */
export const FOOTER_KEYS =
  '1-9 start  ↑↓ select  k cancel  K kill  r restart  p pause  s stop all  ⏎ details  l log  c clear  ? help  q quit';

/**
 * The key hints for a line `width` cells wide (less the leading space): every hint when they fit,
 * else with one space between them, short labels, and at last the least important ones left out.
 * Hints keep their order on screen.
 */
export function footerText(width: number, mode: Mode = 'normal'): string {
  const room = Math.max(0, width - 1);
  if (mode === 'quit')
    return pick(
      QUIT_HINTS,
      room,
      QUIT_HINTS.map((h) => h[0]),
    );
  if (mode === 'quitting') return pick(QUITTING_HINTS, room, ['Ctrl+C']);
  if (mode === 'leaving') return pick(LEAVING_HINTS, room, ['Ctrl+C']);
  if (mode === 'help' || mode === 'details') {
    const hints = mode === 'help' ? PAGE_HINTS.filter((h) => h[0] !== 'k K r s') : PAGE_HINTS;
    return pick(hints, room, mode === 'help' ? ['↑↓ PgUp PgDn', 'Esc', 'q'] : ['↑↓ PgUp PgDn', 'Esc', 'k K r s', 'q']);
  }
  if ([...FOOTER_KEYS].length <= room) return FOOTER_KEYS;
  return pick(FOOTER_HINTS, room, ['1-9', '↑↓', 'k', 'K', 'r', 'p', 's', '⏎', 'l', 'c', '?', 'q'], 8);
}

function pick(
  hints: ReadonlyArray<readonly [string, string, string?]>,
  room: number,
  screenOrder: readonly string[],
  keep = hints.length,
): string {
  const render = (chosen: ReadonlyArray<readonly [string, string, string?]>, gap: string, short: boolean) =>
    screenOrder
      .map((key) => chosen.find((h) => h[0] === key))
      .filter((h): h is readonly [string, string, string?] => h !== undefined)
      .map(([key, what, abbr]) => `${key} ${short && abbr ? abbr : what}`)
      .join(gap);
  // Two spaces between hints while the `keep` most important fit (short labels if need be); then tighter; then fewer.
  for (const [gap, short, least] of [
    ['  ', false, keep],
    ['  ', true, keep],
    [' ', false, keep],
    [' ', true, 1],
  ] as const) {
    for (let n = hints.length; n >= Math.min(least, hints.length); n--) {
      const text = render(hints.slice(0, n), gap, short);
      if ([...text].length <= room) return text;
    }
  }
  return '';
}

/** The action for one key press, or undefined when the key means nothing in this mode. */
export function actionFor(input: string, key: KeyInfo, mode: Mode): Action | undefined {
  const ctrlC = key.ctrl === true && input === 'c';
  if (mode === 'quitting' || mode === 'leaving') return ctrlC ? { type: 'quitDetach' } : undefined;
  if (mode === 'quit') {
    if (ctrlC || input === 's' || input === 'S' || input === 'y') return { type: 'quitStop' };
    if (input === 'd' || input === 'D') return { type: 'quitDetach' };
    if (key.escape || input === 'n' || input === 'q') return { type: 'quitStay' };
    return undefined;
  }
  if (ctrlC) return { type: 'interrupt' };
  if (key.ctrl) return undefined;
  if (mode === 'help' || mode === 'details') {
    const scroll = scrollFor(key);
    if (scroll !== undefined) return { type: 'scroll', delta: scroll };
    if (key.escape || key.return) return { type: 'closeOverlay' };
    const action = normalAction(input, key);
    // The keys that do something (start, stop, quit, help) do it, and the controller leaves the
    // page where that needs the table; any other key only closes the page.
    if (action && action.type !== 'move' && action.type !== 'details') return action;
    return { type: 'closeOverlay' };
  }
  return normalAction(input, key);
}

function scrollFor(key: KeyInfo): Extract<Action, { type: 'scroll' }>['delta'] | undefined {
  if (key.upArrow) return -1;
  if (key.downArrow) return 1;
  if (key.pageUp) return 'pageUp';
  if (key.pageDown) return 'pageDown';
  if (key.home) return 'start';
  if (key.end) return 'end';
  return undefined;
}

function normalAction(input: string, key: KeyInfo): Action | undefined {
  if (key.upArrow) return { type: 'move', delta: -1 };
  if (key.downArrow) return { type: 'move', delta: 1 };
  if (key.pageUp) return { type: 'move', delta: 'pageUp' };
  if (key.pageDown) return { type: 'move', delta: 'pageDown' };
  if (key.home) return { type: 'move', delta: 'start' };
  if (key.end) return { type: 'move', delta: 'end' };
  if (key.return) return { type: 'details' };
  if (key.escape) return { type: 'closeOverlay' };
  if (input.length === 1 && input >= '1' && input <= '9') return { type: 'template', key: Number(input) };
  switch (input) {
    case 'k':
      return { type: 'cancel' };
    case 'K':
      return { type: 'kill' };
    case 'r':
      return { type: 'restart' };
    case 'p':
      return { type: 'pause' };
    case 'R':
      return { type: 'reconnect' };
    case 's':
    case 'S':
      return { type: 'stopAll' };
    case 'l':
    case 'L':
      return { type: 'toggleLog' };
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
  if (/[\x00-\x1f\x7f]/.test(input)) return [input];
  return [...input];
}
