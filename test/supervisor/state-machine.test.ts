import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { initialState, transition, type MachineEvent, type MachineState } from '../../src/supervisor/state-machine.js';
import { isTerminalState } from '../../src/supervisor/types.js';

function run(state: MachineState, ...events: MachineEvent[]) {
  const actions = [];
  for (const e of events) {
    const t = transition(state, e);
    state = t.next;
    actions.push(...t.actions);
  }
  return { state, actions };
}
const at = 1000;
const admit = { type: 'admit', at } as const;
const spawned = { type: 'spawned', at } as const;
const started = { type: 'started', at } as const;
const exited = (code: number | null, signal: NodeJS.Signals | null = null) =>
  ({ type: 'exited', code, signal, at: at + 10 }) as const;
const empty = { type: 'group-empty', at: at + 12 } as const;

describe('task state machine (pure)', () => {
  it('runs a module task to completion on its reported result', () => {
    const { state, actions } = run(
      initialState('module'),
      admit,
      spawned,
      started,
      { type: 'report', report: { kind: 'result', value: 42 }, at },
      exited(0),
      empty,
    );
    expect(state.state).toBe('completed');
    expect(state.outcome).toMatchObject({ state: 'completed', result: 42, attempt: 1, durationMs: 12 });
    expect(actions.map((a) => a.type)).toEqual(['spawn', 'watch-group', 'disarm-grace', 'release-slot', 'settle']);
  });

  it('cancel sends SIGTERM, restores priority, aborts and arms the grace timer; an honoured cancel ends cancelled', () => {
    const s = run(initialState('module'), admit, spawned, started).state;
    const c = transition(s, { type: 'cancel', reason: 'cancel', at });
    expect(c.next.state).toBe('cancelling');
    expect(c.actions).toEqual([
      { type: 'signal', signal: 'SIGTERM' },
      { type: 'restore-priority' },
      { type: 'abort', reason: 'cancel' },
      { type: 'arm-grace' },
    ]);
    const end = run(c.next, { type: 'report', report: { kind: 'cancelled' }, at }, exited(0), empty).state;
    expect(end.outcome).toMatchObject({ state: 'cancelled', stopReason: 'cancel' });
    expect(end.outcome?.escalated).toBeUndefined();
  });

  it('an escalated cancel ends killed with the grace-expired reason', () => {
    const { state, actions } = run(
      initialState('module'),
      admit,
      spawned,
      started,
      { type: 'cancel', reason: 'cancel', at },
      { type: 'grace-expired', at },
      exited(null, 'SIGKILL'),
      empty,
    );
    expect(state.outcome).toMatchObject({ state: 'killed', escalated: true, error: { code: 'GRACE_EXPIRED' } });
    expect(actions).toContainEqual({ type: 'signal', signal: 'SIGKILL' });
  });

  it('kill during cancelling escalates at once, with normal priority again for the exit', () => {
    const s = run(initialState('command'), admit, spawned, { type: 'cancel', reason: 'cancel', at }).state;
    const k = transition(s, { type: 'kill', reason: 'kill', at });
    expect(k.next.state).toBe('killing');
    expect(k.actions).toEqual([
      { type: 'disarm-grace' },
      { type: 'signal', signal: 'SIGKILL' },
      { type: 'restore-priority' },
    ]);
  });

  it('kill of a running task sends SIGKILL and restores priority', () => {
    const s = run(initialState('module'), admit, spawned, started).state;
    expect(transition(s, { type: 'kill', reason: 'kill', at }).actions).toEqual([
      { type: 'disarm-grace' },
      { type: 'signal', signal: 'SIGKILL' },
      { type: 'restore-priority' },
    ]);
  });

  it('queued tasks end cancelled without any process action', () => {
    for (const type of ['cancel', 'kill'] as const) {
      const { state, actions } = run(initialState('module'), { type, reason: 'stop-all', at });
      expect(state.state).toBe('cancelled');
      expect(actions.map((a) => a.type)).toEqual(['settle']);
    }
  });

  it('restart kills the attempt and, once the group is empty, spawns attempt 2 keeping the slot', () => {
    const { state, actions } = run(
      initialState('module'),
      admit,
      spawned,
      started,
      { type: 'restart', reason: 'restart', at },
      exited(null, 'SIGKILL'),
      empty,
    );
    expect(state).toMatchObject({ state: 'starting', attempt: 2, restartPending: false });
    expect(actions.map((a) => a.type)).toEqual([
      'spawn',
      'disarm-grace',
      'signal',
      'restore-priority',
      'watch-group',
      'disarm-grace',
      'spawn',
    ]);
    expect(actions.some((a) => a.type === 'release-slot' || a.type === 'settle')).toBe(false);
  });

  it('restart of a finished task queues a new attempt', () => {
    const done = run(initialState('command'), admit, spawned, exited(0), empty).state;
    expect(done.state).toBe('completed');
    const { next, actions } = transition(done, { type: 'restart', reason: 'restart', at });
    expect(next).toMatchObject({ state: 'queued', attempt: 2 });
    expect(next.outcome).toBeUndefined();
    expect(actions).toEqual([{ type: 'enqueue' }]);
  });

  it('a stop overrides a restart under way', () => {
    const s = run(
      initialState('module'),
      admit,
      spawned,
      started,
      { type: 'restart', reason: 'restart', at },
      { type: 'cancel', reason: 'stop-all', at },
    ).state;
    expect(s.restartPending).toBe(false);
    expect(run(s, exited(null, 'SIGKILL'), empty).state.state).toBe('killed');
  });

  it('a reported result is never thrown away by a kill that raced with it', () => {
    const { state } = run(
      initialState('module'),
      admit,
      spawned,
      started,
      { type: 'report', report: { kind: 'result', value: 'done' }, at },
      { type: 'kill', reason: 'kill', at },
      exited(null, 'SIGKILL'),
      empty,
    );
    expect(state.outcome).toMatchObject({ state: 'completed', result: 'done' });
  });

  it('command exit codes: 0 completes, non-zero fails with the code, a foreign signal fails with the signal', () => {
    expect(run(initialState('command'), admit, spawned, exited(0), empty).state.state).toBe('completed');
    expect(run(initialState('command'), admit, spawned, exited(2), empty).state.outcome).toMatchObject({
      state: 'failed',
      exitCode: 2,
      error: { code: 'EXIT_CODE' },
    });
    expect(run(initialState('command'), admit, spawned, exited(null, 'SIGSEGV'), empty).state.outcome).toMatchObject({
      state: 'failed',
      error: { code: 'EXIT_SIGNAL' },
    });
  });

  it('leftover group members after a normal exit are drained: SIGTERM, then SIGKILL on grace expiry', () => {
    const s = run(initialState('command'), admit, spawned, exited(0)).state;
    const l = transition(s, { type: 'group-lingering', at });
    expect(l.actions).toEqual([
      { type: 'signal', signal: 'SIGTERM' },
      { type: 'restore-priority' },
      { type: 'arm-grace' },
    ]);
    expect(transition(l.next, { type: 'grace-expired', at }).actions).toEqual([{ type: 'signal', signal: 'SIGKILL' }]);
    expect(run(l.next, empty).state.state).toBe('completed');
  });

  it('a terminal state is reached only after the leader exited AND the group is empty', () => {
    const s = run(initialState('module'), admit, spawned, started, { type: 'kill', reason: 'kill', at }).state;
    expect(run(s, empty).state.state).toBe('killing');
    expect(run(s, exited(null, 'SIGKILL')).state.state).toBe('killing');
    expect(run(s, exited(null, 'SIGKILL'), empty).state.state).toBe('killed');
  });

  const eventArb: fc.Arbitrary<MachineEvent> = fc.oneof(
    fc.constant(admit),
    fc.constant(spawned),
    fc.constant(started),
    fc.constant({ type: 'report', report: { kind: 'result', value: 1 }, at } as const),
    fc.constant({ type: 'report', report: { kind: 'error', error: { name: 'E', message: 'm' } }, at } as const),
    fc.constant({ type: 'report', report: { kind: 'cancelled' }, at } as const),
    fc.constant(exited(0)),
    fc.constant(exited(null, 'SIGKILL')),
    fc.constant(empty),
    fc.constant({ type: 'group-lingering', at } as const),
    fc.constant({ type: 'cancel', reason: 'cancel', at } as const),
    fc.constant({ type: 'kill', reason: 'kill', at } as const),
    fc.constant({ type: 'restart', reason: 'restart', at } as const),
    fc.constant({ type: 'grace-expired', at } as const),
    fc.constant({ type: 'spawn-failed', error: { name: 'E', message: 'enoent' }, at } as const),
    fc.constant({ type: 'released', at } as const),
  );

  it('released: a running task with a result ends completed without an exit, keeping its runner for the next task', () => {
    const result = { type: 'report', report: { kind: 'result', value: 7 }, at } as const;
    const { state, actions } = run(initialState('module'), admit, spawned, started, result, {
      type: 'released',
      at: at + 5,
    });
    expect(state.outcome).toEqual({ state: 'completed', result: 7, attempt: 1, durationMs: 5 });
    expect(actions.map((a) => a.type)).toEqual(['spawn', 'disarm-grace', 'keep-runner', 'release-slot', 'settle']);
  });

  it('released during a stop or a pause retires the runner (the stop goes on); after an exit or without a result it is nothing', () => {
    const result = { type: 'report', report: { kind: 'result', value: 7 }, at } as const;
    const released = { type: 'released', at } as const;
    const withResult = run(initialState('module'), admit, spawned, started, result).state;
    for (const stop of [
      { type: 'cancel', reason: 'cancel', at },
      { type: 'kill', reason: 'kill', at },
      { type: 'pause', at },
    ] as const) {
      const s = run(withResult, stop).state;
      expect(transition(s, released)).toEqual({ next: s, actions: [{ type: 'retire-runner' }] });
    }
    // The stop still ends on the exit, and the result it raced with is kept.
    expect(
      run(withResult, { type: 'cancel', reason: 'cancel', at }, released, exited(0), empty).state.outcome?.state,
    ).toBe('completed');
    const exitedFirst = run(withResult, exited(0)).state;
    expect(transition(exitedFirst, released).actions).toEqual([]);
    const failed = run(initialState('module'), admit, spawned, started, {
      type: 'report',
      report: { kind: 'error', error: { name: 'E', message: 'm' } },
      at,
    }).state;
    expect(transition(failed, released)).toEqual({ next: failed, actions: [{ type: 'retire-runner' }] });
  });

  it('property: any event sequence keeps slots balanced and settles exactly once per terminal entry', () => {
    fc.assert(
      fc.property(fc.constantFrom('module', 'command'), fc.array(eventArb, { maxLength: 60 }), (kind, events) => {
        let state = initialState(kind);
        let slots = 0;
        let settles = 0;
        let terminalEntries = 0;
        for (const e of events) {
          const before = state.state;
          const t = transition(state, e);
          const holds = (s: string) => ['starting', 'running', 'cancelling', 'killing'].includes(s);
          if (holds(t.next.state) && !holds(before)) slots += 1;
          for (const a of t.actions) {
            if (a.type === 'release-slot') slots -= 1;
            if (a.type === 'settle') settles += 1;
          }
          if (isTerminalState(t.next.state) && !isTerminalState(before)) terminalEntries += 1;
          // Terminal states always carry the outcome that was settled.
          if (isTerminalState(t.next.state)) expect(t.next.outcome?.state).toBe(t.next.state);
          // A slot is held exactly while in an active, non-queued state.
          expect(slots).toBe(holds(t.next.state) ? 1 : 0);
          state = t.next;
        }
        expect(settles).toBe(terminalEntries);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: every transition into cancelling or killing restores priority, right after its signal, and nothing else does', () => {
    fc.assert(
      fc.property(fc.constantFrom('module', 'command'), fc.array(eventArb, { maxLength: 60 }), (kind, events) => {
        let state = initialState(kind);
        for (const e of events) {
          const t = transition(state, e);
          const types = t.actions.map((a) => a.type);
          const restores = types.filter((type) => type === 'restore-priority').length;
          const entersStop =
            t.next.state !== state.state && (t.next.state === 'cancelling' || t.next.state === 'killing');
          const startsDrain = t.next.draining && !state.draining;
          if (entersStop || startsDrain) expect(restores).toBe(1);
          else expect(restores).toBe(0);
          if (restores === 1) expect(types.indexOf('signal')).toBe(types.indexOf('restore-priority') - 1);
          state = t.next;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
