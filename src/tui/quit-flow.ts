/**
 * Leaving the UI, as one explicit machine: events in (q, the prompt's answers, the daemon's
 * replies and comings and goings), the next state and the actions to carry out. Pure: the
 * controller runs the actions, the tests walk every path without a screen or a daemon.
 */

/**
 * How the UI left. 'stopped': every task stopped first; 'detached': tasks left running in the
 * daemon; 'idle': nothing was running; 'disconnected': no daemon to talk to; 'leftStarting': the
 * user would not wait for the daemon this UI was starting (or it could not be reached), so it may
 * be left running.
 */
export type QuitHow = 'stopped' | 'detached' | 'idle' | 'disconnected' | 'leftStarting';

export type QuitState =
  /** Not leaving. */
  | { phase: 'open' }
  /** Tasks run: the prompt asks whether to stop them, detach, or stay. */
  | { phase: 'asking' }
  /** The emergency stop was sent; the UI leaves once the daemon has answered. */
  | { phase: 'stopping' }
  /** q while this UI starts a daemon: it waits for the daemon to come up, to shut it down again. */
  | { phase: 'awaitingDaemon' }
  | { phase: 'done'; how: QuitHow };

/** Where the daemon connection stands when q is pressed. */
export type DaemonReach = 'up' | 'starting' | 'down';

export type QuitEvent =
  /** q or Ctrl+C outside the prompt; `active`: tasks still running. */
  | { type: 'quit'; daemon: DaemonReach; active: number }
  /** s (or Ctrl+C) in the prompt. */
  | { type: 'stop' }
  /** d in the prompt, Ctrl+C while stopping or waiting, a closed terminal or SIGTERM at any time. */
  | { type: 'detach' }
  /** Esc (n, q) in the prompt. */
  | { type: 'stay' }
  /** The emergency stop was answered. */
  | { type: 'stopped' }
  /** The emergency stop failed; `connected`: the daemon is still there. */
  | { type: 'stopFailed'; reason: string; connected: boolean }
  /** The connection came up; `active`: tasks running in that daemon. */
  | { type: 'daemonUp'; active: number }
  /** The daemon could not be reached. */
  | { type: 'daemonFailed' }
  /** The connection was lost. */
  | { type: 'daemonLost' };

export type QuitAction =
  /** What the bottom lines show: the table's status line, the prompt, or what leaving waits for. */
  | { type: 'mode'; mode: 'normal' | 'quit' | 'quitting' | 'leaving' }
  | { type: 'status'; text: string; tone: 'info' | 'error' }
  /** Send the emergency stop (and show every active task as stopping). */
  | { type: 'stopAll' }
  /** Keys held for the daemon are not carried out: the user is leaving. */
  | { type: 'dropHeld' }
  | { type: 'finish'; how: QuitHow };

export interface QuitStep {
  state: QuitState;
  actions: QuitAction[];
}

export const QUIT_OPEN: QuitState = { phase: 'open' };

const done = (how: QuitHow): QuitStep => ({ state: { phase: 'done', how }, actions: [{ type: 'finish', how }] });
const stay = (state: QuitState): QuitStep => ({ state, actions: [] });

/** The next state and what to do, for `event` in `state`. Events that mean nothing in a state change nothing. */
export function quitStep(state: QuitState, event: QuitEvent): QuitStep {
  switch (state.phase) {
    case 'open':
      return fromOpen(event) ?? stay(state);
    case 'asking':
      return fromAsking(event) ?? stay(state);
    case 'stopping':
      return fromStopping(event) ?? stay(state);
    case 'awaitingDaemon':
      return fromAwaiting(event) ?? stay(state);
    case 'done':
      return stay(state);
  }
}

function fromOpen(event: QuitEvent): QuitStep | undefined {
  if (event.type === 'detach') return done('detached');
  if (event.type !== 'quit') return undefined;
  if (event.daemon === 'starting') {
    return { state: { phase: 'awaitingDaemon' }, actions: [{ type: 'dropHeld' }, { type: 'mode', mode: 'leaving' }] };
  }
  if (event.daemon === 'down') return done('disconnected');
  return event.active === 0 ? done('idle') : ask();
}

function ask(): QuitStep {
  return { state: { phase: 'asking' }, actions: [{ type: 'mode', mode: 'quit' }] };
}

function fromAsking(event: QuitEvent): QuitStep | undefined {
  switch (event.type) {
    case 'stop':
      return { state: { phase: 'stopping' }, actions: [{ type: 'mode', mode: 'quitting' }, { type: 'stopAll' }] };
    case 'detach':
      return done('detached');
    case 'stay':
      return {
        state: QUIT_OPEN,
        actions: [
          { type: 'mode', mode: 'normal' },
          { type: 'status', text: 'Still here: nothing was stopped.', tone: 'info' },
        ],
      };
    case 'daemonLost':
      // the lost connection says so on the status line
      return { state: QUIT_OPEN, actions: [{ type: 'mode', mode: 'normal' }] };
    default:
      return undefined;
  }
}

function fromStopping(event: QuitEvent): QuitStep | undefined {
  switch (event.type) {
    case 'stopped':
      return done('stopped');
    case 'detach':
      return done('detached');
    case 'daemonLost':
      // the daemon took its tasks with it (its orphan guard stops them): nothing left to stop
      return done('disconnected');
    case 'stopFailed':
      if (!event.connected) return done('disconnected');
      return {
        state: QUIT_OPEN,
        actions: [
          { type: 'mode', mode: 'normal' },
          {
            type: 'status',
            text: `Could not stop the tasks (${event.reason}); they may still run. Press q to try again, or q then d to detach.`,
            tone: 'error',
          },
        ],
      };
    default:
      return undefined;
  }
}

function fromAwaiting(event: QuitEvent): QuitStep | undefined {
  switch (event.type) {
    case 'daemonUp':
      // a daemon this UI started runs nothing of anyone's yet; should it, the prompt asks as usual
      return event.active === 0 ? done('idle') : ask();
    case 'detach':
    case 'daemonFailed':
      return done('leftStarting');
    case 'daemonLost':
      return done('disconnected');
    default:
      return undefined;
  }
}
