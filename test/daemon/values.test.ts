/**
 * Task values through a real daemon: a module returning
 * `{ map: new Map(...), when: new Date() }` used to come back from the daemon as
 * `{"map":{}, "when": <a string>}`, while an in-process Supervisor kept them. Now what
 * crosses the socket round-trips structured-clone types (tagged encoding, opt-in in HELLO),
 * the journal keeps them across a daemon restart, and a client that did not opt in gets
 * plain JSON as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/daemon/client.js';
import { startDaemon, type DaemonHandle } from '../../src/daemon/server.js';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import type { RecordedTask } from '../../src/journal/recorded-state.js';
import { fixture } from '../helpers.js';
import { RawClient, tempHome, type Msg } from './helpers.js';

let home: ReturnType<typeof tempHome>;
let daemon: DaemonHandle;
const options = { supervisorOptions: { concurrency: 2, graceMs: 2000 }, log: () => {} };

const input = {
  since: new Date(Date.UTC(2026, 0, 1)),
  ids: new Set([1, 2]),
  lookup: new Map([['k', 10n]]),
  nothing: undefined,
};
let expected: Record<string, unknown>;

beforeAll(async () => {
  home = tempHome();
  daemon = await startDaemon({ home: home.home, ...options });
  // What an in-process Supervisor gives: the reference.
  const sup = new Supervisor({ concurrency: 1, prewarm: 0 });
  try {
    const outcome = await sup.start({ module: fixture('values'), input }).done;
    expect(outcome.state, JSON.stringify(outcome.error)).toBe('completed');
    expected = outcome.result as Record<string, unknown>;
  } finally {
    await sup.shutdown();
  }
});

afterAll(async () => {
  await daemon?.close();
  home?.cleanup();
});

/** Runs the values fixture through the daemon and returns the TASK_COMPLETE snapshot. */
async function runThroughDaemon(client: DaemonClient): Promise<RecordedTask> {
  let id: string | undefined;
  const early: RecordedTask[] = [];
  const done = new Promise<RecordedTask>((resolve) => {
    client.on('event', (event) => {
      if (event.type !== 'TASK_COMPLETE') return;
      if (id === undefined) early.push(event.task);
      else if (event.task.id === id) resolve(event.task);
    });
  });
  await client.subscribe();
  const { task } = await client.request('TASK_REQUEST', { spec: { module: fixture('values'), input } });
  id = task.id;
  expect(task.spec).toMatchObject({ input });
  const already = early.find((t) => t.id === id);
  return already ?? done;
}

function checkValues(result: Record<string, any>): void {
  expect(result).toEqual(expected);
  // toEqual is structural: check what it may not (types, identity, -0, own undefined keys).
  expect(result.map).toBeInstanceOf(Map);
  expect(result.map.get('nested')).toBeInstanceOf(Map);
  expect(result.set).toBeInstanceOf(Set);
  expect(result.when).toBeInstanceOf(Date);
  expect(result.when.toISOString()).toBe('2026-12-01T15:00:00.123Z');
  expect(Number.isNaN(result.invalidDate.getTime())).toBe(true);
  expect(result.big).toBe(12345678901234567890n);
  expect(Object.is(result.numbers[3], -0)).toBe(true);
  expect(result.numbers.slice(0, 3)).toEqual([NaN, Infinity, -Infinity]);
  expect(Object.hasOwn(result, 'missing')).toBe(true);
  expect(result.list).toEqual([undefined, null, 'x']);
  expect(result.regexp).toEqual(/a+b/gi);
  expect(result.error).toBeInstanceOf(RangeError);
  expect(result.error.message).toBe('tile 7 is out of range');
  expect(result.floats).toBeInstanceOf(Float64Array);
  expect(result.bigints).toBeInstanceOf(BigInt64Array);
  expect(result.arrayBuffer).toBeInstanceOf(ArrayBuffer);
  expect(result.shared[0]).toBe(result.shared[1]);
  expect(result.cycle.self).toBe(result.cycle);
  expect(result.ownTag).toEqual({ $tw: 'Date', v: 'not a date, a plain object' });
  expect(result.input.since).toBeInstanceOf(Date);
  expect(result.input.lookup.get('k')).toBe(10n);
}

describe('task values through the daemon', { timeout: 60_000 }, () => {
  it('DaemonClient gets the result an in-process Supervisor gets: Maps, Dates, BigInts, typed arrays, cycles', async () => {
    const client = await DaemonClient.connect({ home: home.home, autostart: false, clientName: 'values' });
    try {
      expect(client.welcome.values).toBe('tagged');
      const task = await runThroughDaemon(client);
      expect(task.state).toBe('completed');
      checkValues(task.outcome!.result as Record<string, any>);
      // GET (live), LIST and HISTORY (the journal) have them too.
      const got = await client.request('GET', { taskId: task.id });
      checkValues(got.task.outcome!.result as Record<string, any>);
      checkValues(got.attempts.at(-1)!.result as Record<string, any>);
      const { tasks } = await client.request('HISTORY', { limit: 5 });
      checkValues(tasks.find((t) => t.id === task.id)!.outcome!.result as Record<string, any>);
      expect(tasks.find((t) => t.id === task.id)!.spec).toMatchObject({ input });
    } finally {
      client.close();
    }
  });

  it('the journal keeps them: after a daemon restart GET reads them back as they were', async () => {
    const client = await DaemonClient.connect({ home: home.home, autostart: false, clientName: 'values' });
    const task = await runThroughDaemon(client);
    client.close();
    await daemon.close();
    daemon = await startDaemon({ home: home.home, ...options });
    const again = await DaemonClient.connect({ home: home.home, autostart: false, clientName: 'values' });
    try {
      const got = await again.request('GET', { taskId: task.id });
      checkValues(got.task.outcome!.result as Record<string, any>);
      expect((got.task.spec as { input: typeof input }).input).toEqual(input);
    } finally {
      again.close();
    }
  });

  it('a client that does not ask for tagged values gets plain JSON, as before (old clients keep working)', async () => {
    const c = await RawClient.open(daemon.socketPath);
    try {
      await c.request({ type: 'SUBSCRIBE' });
      const ack = await c.request({
        type: 'TASK_REQUEST',
        spec: { module: fixture('values'), input: { plain: [1, 'two'] } },
      });
      expect(ack.type).toBe('ACK');
      const complete = await c.next(
        (m: Msg) => m.type === 'TASK_COMPLETE' && m.task.id === ack.task.id,
        30_000,
        'TASK_COMPLETE',
      );
      expect(complete.task.outcome.state, JSON.stringify(complete.task.outcome)).toBe('completed');
      const result = complete.task.outcome.result;
      expect(result.map).toEqual({});
      expect(result.when).toBe('2026-12-01T15:00:00.123Z');
      expect(result.input).toEqual({ plain: [1, 'two'] });
      // JSON.stringify refuses a BigInt and a cycle: plain JSON gets the digits and a note instead of no event at all.
      expect(result.big).toBe('12345678901234567890');
      expect(result.cycle.self).toMatch(/circular or repeated reference/);
      expect(c.invalid).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('a raw client that asks for them sees the tagged encoding; a bad tag in an input is BAD_MESSAGE naming where', async () => {
    const c = await RawClient.open(daemon.socketPath, false);
    try {
      const welcome = await c.request({
        type: 'HELLO',
        version: PROTOCOL_VERSION,
        client: 'raw-tagged',
        values: 'tagged',
      });
      expect(welcome).toMatchObject({ type: 'WELCOME', values: 'tagged' });
      await c.request({ type: 'SUBSCRIBE' });
      const spec = { module: fixture('values'), input: { when: { $tw: 'Date', v: '2026-01-02T03:04:05.000Z' } } };
      const ack = await c.request({ type: 'TASK_REQUEST', spec });
      expect(ack.task.spec.input).toEqual(spec.input);
      const complete = await c.next(
        (m: Msg) => m.type === 'TASK_COMPLETE' && m.task.id === ack.task.id,
        30_000,
        'TASK_COMPLETE',
      );
      const result = complete.task.outcome.result;
      expect(result.map).toEqual({
        $tw: 'Map',
        v: [
          ['a', 1],
          ['nested', { $tw: 'Map', v: [[2, 'two']] }],
        ],
      });
      expect(result.when).toEqual({ $tw: 'Date', v: '2026-12-01T15:00:00.123Z' });
      expect(result.input).toEqual(spec.input); // the task got a Date and returned it
      expect(result.ownTag).toEqual({ $tw: 'Object', v: { $tw: 'Date', v: 'not a date, a plain object' } });
      const bad = await c.request({
        type: 'TASK_REQUEST',
        spec: { module: fixture('values'), input: { when: { $tw: 'Date', v: 'yesterday' } } },
      });
      expect(bad).toMatchObject({ type: 'ERROR', code: 'BAD_MESSAGE' });
      expect(bad.message).toMatch(/^TASK_REQUEST\.spec\.input\.when\.v: not a date/);
      const unknown = await c.request({
        type: 'TASK_REQUEST',
        spec: { module: fixture('values'), input: { x: { $tw: 'Frob' } } },
      });
      expect(unknown.message).toMatch(/TASK_REQUEST\.spec\.input\.x\.\$tw: unknown tag "Frob"/);
      expect(c.invalid).toEqual([]);
    } finally {
      c.close();
    }
  });
});
