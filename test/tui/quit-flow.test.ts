/** The quit flow as a pure machine: every way in and out of leaving, without a screen or a daemon. */
import { describe, expect, it } from 'vitest';
import { QUIT_OPEN, quitStep, type QuitEvent, type QuitState } from '../../src/tui/quit-flow.js';

/** Runs `events` from the open state; returns the last state and every action, in order. */
function walk(...events: QuitEvent[]): { state: QuitState; actions: unknown[] } {
  let state = QUIT_OPEN;
  const actions: unknown[] = [];
  for (const event of events) {
    const step = quitStep(state, event);
    state = step.state;
    actions.push(...step.actions);
  }
  return { state, actions };
}

const quit = (daemon: 'up' | 'starting' | 'down', active = 0): QuitEvent => ({ type: 'quit', daemon, active });

describe('quit flow', () => {
  it('q with nothing running, or no daemon, leaves at once', () => {
    expect(walk(quit('up', 0))).toEqual({
      state: { phase: 'done', how: 'idle' },
      actions: [{ type: 'finish', how: 'idle' }],
    });
    expect(walk(quit('down', 3))).toEqual({
      state: { phase: 'done', how: 'disconnected' },
      actions: [{ type: 'finish', how: 'disconnected' }],
    });
  });

  it('q with tasks running asks; Esc stays and says nothing was stopped', () => {
    expect(walk(quit('up', 2))).toEqual({ state: { phase: 'asking' }, actions: [{ type: 'mode', mode: 'quit' }] });
    const stayed = walk(quit('up', 2), { type: 'stay' });
    expect(stayed.state).toEqual(QUIT_OPEN);
    expect(stayed.actions.slice(1)).toEqual([
      { type: 'mode', mode: 'normal' },
      { type: 'status', text: 'Still here: nothing was stopped.', tone: 'info' },
    ]);
  });

  it('s in the prompt stops every task and leaves once the daemon has answered', () => {
    const stopping = walk(quit('up', 2), { type: 'stop' });
    expect(stopping.state).toEqual({ phase: 'stopping' });
    expect(stopping.actions.slice(1)).toEqual([{ type: 'mode', mode: 'quitting' }, { type: 'stopAll' }]);
    expect(walk(quit('up', 2), { type: 'stop' }, { type: 'stopped' }).state).toEqual({ phase: 'done', how: 'stopped' });
  });

  it('a failed stop goes back to the table with the reason, or leaves when the daemon is gone', () => {
    const failed = walk(quit('up', 1), { type: 'stop' }, { type: 'stopFailed', reason: 'EPIPE', connected: true });
    expect(failed.state).toEqual(QUIT_OPEN);
    expect(failed.actions.at(-1)).toEqual({
      type: 'status',
      text: 'Could not stop the tasks (EPIPE); they may still run. Press q to try again, or q then d to detach.',
      tone: 'error',
    });
    expect(walk(quit('up', 1), { type: 'stop' }, { type: 'stopFailed', reason: 'x', connected: false }).state).toEqual({
      phase: 'done',
      how: 'disconnected',
    });
    // the daemon dying while it stops took its tasks with it
    expect(walk(quit('up', 1), { type: 'stop' }, { type: 'daemonLost' }).state).toEqual({
      phase: 'done',
      how: 'disconnected',
    });
  });

  it('d in the prompt, Ctrl+C while stopping and a closed terminal detach', () => {
    expect(walk(quit('up', 1), { type: 'detach' }).state).toEqual({ phase: 'done', how: 'detached' });
    expect(walk(quit('up', 1), { type: 'stop' }, { type: 'detach' }).state).toEqual({ phase: 'done', how: 'detached' });
    expect(walk({ type: 'detach' }).state).toEqual({ phase: 'done', how: 'detached' });
  });

  it('the daemon going away under the prompt closes the prompt', () => {
    expect(walk(quit('up', 1), { type: 'daemonLost' })).toEqual({
      state: QUIT_OPEN,
      actions: [
        { type: 'mode', mode: 'quit' },
        { type: 'mode', mode: 'normal' },
      ],
    });
  });

  it('q while this UI starts a daemon waits for it, to shut it down; held keys are dropped', () => {
    const waiting = walk(quit('starting'));
    expect(waiting).toEqual({
      state: { phase: 'awaitingDaemon' },
      actions: [{ type: 'dropHeld' }, { type: 'mode', mode: 'leaving' }],
    });
    // up with nothing running: leave idle (the caller shuts down a daemon it started)
    expect(walk(quit('starting'), { type: 'daemonUp', active: 0 }).state).toEqual({ phase: 'done', how: 'idle' });
    // up with tasks running (not ours to stop unasked): the prompt, as for any q
    expect(walk(quit('starting'), { type: 'daemonUp', active: 2 }).state).toEqual({ phase: 'asking' });
  });

  it('Ctrl+C while waiting for the daemon, or a daemon that cannot be reached, leaves it possibly running', () => {
    expect(walk(quit('starting'), { type: 'detach' }).state).toEqual({ phase: 'done', how: 'leftStarting' });
    expect(walk(quit('starting'), { type: 'daemonFailed' }).state).toEqual({ phase: 'done', how: 'leftStarting' });
    expect(walk(quit('starting'), { type: 'daemonLost' }).state).toEqual({ phase: 'done', how: 'disconnected' });
  });

  it('done is final, and events that mean nothing in a state change nothing', () => {
    const done = walk(quit('up', 0));
    for (const event of [quit('up', 1), { type: 'stop' }, { type: 'detach' }, { type: 'daemonLost' }] as QuitEvent[]) {
      expect(quitStep(done.state, event)).toEqual({ state: done.state, actions: [] });
    }
    for (const event of [
      { type: 'stop' },
      { type: 'stay' },
      { type: 'stopped' },
      { type: 'daemonUp', active: 0 },
      { type: 'daemonLost' },
    ] as QuitEvent[]) {
      expect(quitStep(QUIT_OPEN, event)).toEqual({ state: QUIT_OPEN, actions: [] });
    }
    expect(quitStep({ phase: 'awaitingDaemon' }, quit('up', 0))).toEqual({
      state: { phase: 'awaitingDaemon' },
      actions: [],
    });
  });
});
