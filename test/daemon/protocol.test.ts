/**
 * Protocol conformance against a real daemon on a real socket: every request
 * type gets exactly one reply of the documented shape, every event type is
 * delivered, and every line the daemon sends validates against the schemas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { startDaemon, type DaemonHandle } from '../../src/daemon/server.js';
import { PROTOCOL_VERSION, MAX_LINE_BYTES } from '../../src/protocol/index.js';
import { textureTaskModule } from '../../src/tasks/texture/index.js';
import { fixture } from '../helpers.js';
import { RawClient, tempHome, type Msg } from './helpers.js';

let daemon: DaemonHandle;
let home: ReturnType<typeof tempHome>;
const clients: RawClient[] = [];

async function client(hello = true): Promise<RawClient> {
  const c = await RawClient.open(daemon.socketPath, hello);
  clients.push(c);
  return c;
}

const moduleSpec = (name: string, input?: unknown) => ({
  module: fixture(name),
  ...(input !== undefined ? { input } : {}),
});

async function completeOf(c: RawClient, taskId: string, timeoutMs = 15_000): Promise<Msg> {
  return c.next((m) => m.type === 'TASK_COMPLETE' && m.task.id === taskId, timeoutMs, `TASK_COMPLETE of ${taskId}`);
}

beforeAll(async () => {
  home = tempHome();
  daemon = await startDaemon({
    home: home.home,
    // A grace long enough for cooperative tasks to stop on a loaded CI machine (tasks run niced).
    supervisorOptions: { concurrency: 4, graceMs: 2000, stallAfterMs: 400, sampleIntervalMs: 100 },
    log: () => {},
  });
});

afterAll(async () => {
  for (const c of clients) {
    expect(c.invalid).toEqual([]);
    c.close();
  }
  await daemon?.close();
  home?.cleanup();
});

describe('protocol conformance', () => {
  it('HELLO -> WELCOME with version, daemon pid and home', async () => {
    const c = await client(false);
    const welcome = await c.request({ type: 'HELLO', version: PROTOCOL_VERSION, client: 'conformance' });
    expect(welcome).toMatchObject({
      type: 'WELCOME',
      version: PROTOCOL_VERSION,
      daemonPid: process.pid,
      home: home.home,
    });
  });

  it('HELLO with another version -> VERSION_MISMATCH, then the daemon closes the connection', async () => {
    const c = await client(false);
    const reply = await c.request({ type: 'HELLO', version: PROTOCOL_VERSION + 1, client: 'future' });
    expect(reply).toMatchObject({ type: 'ERROR', code: 'VERSION_MISMATCH' });
    expect(reply.message).toMatch(/same taskwarden version/);
    await expect.poll(() => c.closed).toBe(true);
  });

  it('a request before HELLO -> ERROR with its id', async () => {
    const c = await client(false);
    expect(await c.request({ type: 'LIST', id: 5 })).toMatchObject({ type: 'ERROR', id: 5, code: 'BAD_MESSAGE' });
  });

  it('malformed lines -> BAD_JSON, BAD_MESSAGE, UNKNOWN_TYPE, LINE_TOO_LONG; the connection keeps working', async () => {
    const c = await client();
    c.sendLine('{not json');
    expect(await c.next((m) => m.type === 'ERROR')).toMatchObject({ id: null, code: 'BAD_JSON' });
    expect(await c.request({ type: 'NOPE', id: 'u1' })).toMatchObject({
      type: 'ERROR',
      id: 'u1',
      code: 'UNKNOWN_TYPE',
    });
    expect(await c.request({ type: 'GET', id: 'g1' })).toMatchObject({ type: 'ERROR', id: 'g1', code: 'BAD_MESSAGE' });
    expect((await c.request({ type: 'GET', id: 'g2', taskId: 7 })).message).toMatch(/GET\.taskId/);
    c.sendLine('x'.repeat(MAX_LINE_BYTES + 10));
    expect(await c.next((m) => m.type === 'ERROR')).toMatchObject({ id: null, code: 'LINE_TOO_LONG' });
    expect(await c.request({ type: 'LIST' })).toMatchObject({ type: 'ACK', tasks: [] });
  });

  it('TASK_REQUEST -> ACK {task}; subscribers see TASK_STATUS (new, then each change) and TASK_COMPLETE', async () => {
    const c = await client();
    expect(await c.request({ type: 'SUBSCRIBE' })).toMatchObject({ type: 'ACK' });
    expect(await c.next((m) => m.type === 'SNAPSHOT')).toMatchObject({ tasks: expect.any(Array) });
    const ack = await c.request({ type: 'TASK_REQUEST', spec: moduleSpec('echo', { n: 1 }) });
    expect(ack).toMatchObject({ type: 'ACK', task: { state: 'queued', kind: 'module', name: 'echo' } });
    const id = ack.task.id;
    const created = await c.next((m) => m.type === 'TASK_STATUS' && m.task.id === id && m.previous === undefined);
    expect(created.task.state).toBe('queued');
    const done = await completeOf(c, id);
    expect(done.task).toMatchObject({
      state: 'completed',
      outcome: { state: 'completed', result: { input: { n: 1 } } },
    });
    const states = c.received
      .filter((m) => m.type === 'TASK_STATUS' && m.task.id === id)
      .map((m) => `${m.previous}->${m.task.state}`);
    expect(states).toEqual(['queued->starting', 'starting->running', 'running->completed']);
  });

  it('TASK_REQUEST with a bad spec -> BAD_MESSAGE naming the field', async () => {
    const c = await client();
    expect((await c.request({ type: 'TASK_REQUEST', spec: { module: 'relative.mjs' } })).message).toMatch(
      /spec\.module.*cwd/,
    );
    expect((await c.request({ type: 'TASK_REQUEST', spec: { command: 'sleep', arg: ['1'] } })).code).toBe(
      'BAD_MESSAGE',
    );
    expect((await c.request({ type: 'TASK_REQUEST' })).message).toMatch(/TASK_REQUEST\.spec/);
  });

  it('TASK_REQUEST with reuse: a reusable runner serves the next task; texture tasks reuse unless the spec says reuse: false', async () => {
    const c = await client();
    await c.request({ type: 'SUBSCRIBE' });
    const pids: number[] = [];
    for (let k = 0; k < 2; k++) {
      const ack = await c.request({
        type: 'TASK_REQUEST',
        spec: { ...moduleSpec('reuse-probe', { mode: 'ok' }), reuse: true },
      });
      expect(ack.task.spec.reuse).toBe(true);
      pids.push((await completeOf(c, ack.task.id)).task.outcome.result.pid);
    }
    expect(pids[1]).toBe(pids[0]);
    expect((await c.request({ type: 'TASK_REQUEST', spec: { command: 'true', reuse: true } })).message).toMatch(
      /spec\.reuse: goes with "module"/,
    );
    expect((await c.request({ type: 'TASK_REQUEST', spec: { ...moduleSpec('echo'), reuse: 0 } })).message).toMatch(
      /spec\.reuse/,
    );
    const texture = { module: textureTaskModule, input: { images: ['sample:brick'] } };
    expect((await c.request({ type: 'TASK_REQUEST', spec: texture })).task.spec.reuse).toBe(true);
    expect((await c.request({ type: 'TASK_REQUEST', spec: { ...texture, reuse: false } })).task.spec.reuse).toBe(false);
  });

  it('TASK_CANCEL, TASK_KILL, TASK_RESTART -> ACK {task}; unknown ids -> UNKNOWN_TASK', async () => {
    const c = await client();
    await c.request({ type: 'SUBSCRIBE' });
    const a = (await c.request({ type: 'TASK_REQUEST', spec: moduleSpec('cooperative') })).task.id;
    const b = (await c.request({ type: 'TASK_REQUEST', spec: moduleSpec('ignores-cancel') })).task.id;
    await c.next((m) => m.type === 'TASK_PROGRESS' && m.taskId === a, 15_000, 'progress of a');
    await c.next((m) => m.type === 'TASK_STATUS' && m.task.id === b && m.task.state === 'running', 15_000, 'b running');

    const restarted = await c.request({ type: 'TASK_RESTART', taskId: a });
    expect(restarted).toMatchObject({ type: 'ACK', task: { id: a } });
    await c.next(
      (m) => m.type === 'TASK_STATUS' && m.task.id === a && m.task.attempt === 2 && m.task.state === 'running',
      15_000,
      'attempt 2',
    );

    expect((await c.request({ type: 'TASK_CANCEL', taskId: a })).task).toMatchObject({ id: a, state: 'cancelling' });
    expect((await completeOf(c, a)).task.state).toBe('cancelled');
    expect((await c.request({ type: 'TASK_KILL', taskId: b })).task.id).toBe(b);
    expect((await completeOf(c, b)).task.state).toBe('killed');

    for (const type of ['TASK_CANCEL', 'TASK_KILL', 'TASK_RESTART', 'GET', 'LOGS']) {
      const reply = await c.request({ type, taskId: '9999' });
      expect(reply).toMatchObject({ type: 'ERROR', code: 'UNKNOWN_TASK' });
      expect(reply.message).toMatch(/9999/);
    }
  });

  it('STOP_ALL -> ACK {result} once every process is reaped; queued tasks never start', async () => {
    const c = await client();
    await c.request({ type: 'SUBSCRIBE' });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++)
      ids.push((await c.request({ type: 'TASK_REQUEST', spec: moduleSpec(i === 0 ? 'sync-loop' : 'silent') })).task.id);
    await c.next((m) => m.type === 'TASK_PROGRESS' && m.taskId === ids[0], 15_000, 'sync-loop spinning');
    const reply = await c.request({ type: 'STOP_ALL' }, 15_000);
    expect(reply.type).toBe('ACK');
    const { result } = reply;
    expect(result.cancelled + result.killed + result.notStarted + result.finished).toBe(6);
    expect(result.killed).toBeGreaterThanOrEqual(1); // the sync loop needs SIGKILL
    expect(result.notStarted).toBeGreaterThanOrEqual(2); // concurrency 4
    const list = await c.request({ type: 'LIST' });
    expect(list.tasks).toEqual([]);
  });

  it('LIST, GET, HISTORY, LOGS payloads', async () => {
    const c = await client();
    await c.request({ type: 'SUBSCRIBE' });
    const id = (
      await c.request({ type: 'TASK_REQUEST', spec: { command: 'sh', args: ['-c', 'echo out; echo err >&2'] } })
    ).task.id;
    const log = await c.next((m) => m.type === 'TASK_LOG' && m.log.taskId === id, 15_000, 'TASK_LOG');
    expect(log.log).toMatchObject({ attempt: 1, stream: expect.stringMatching(/stdout|stderr/) });
    await completeOf(c, id);

    const all = await c.request({ type: 'LIST', includeFinished: true });
    expect(all.tasks.map((t: Msg) => t.id)).toContain(id);
    const get = await c.request({ type: 'GET', taskId: id });
    expect(get.task).toMatchObject({ id, state: 'completed' });
    expect(get.attempts).toHaveLength(1);
    expect(get.transitions.map((t: Msg) => t.to)).toEqual(['queued', 'starting', 'running', 'completed']);
    const history = await c.request({ type: 'HISTORY', limit: 2 });
    expect(history.tasks[0].id).toBe(id);
    expect(history.tasks.length).toBeLessThanOrEqual(2);
    const logs = await c.request({ type: 'LOGS', taskId: id });
    expect(logs.attempt).toBe(1);
    expect(logs.lines).toEqual(
      expect.arrayContaining([
        { stream: 'stdout', line: 'out' },
        { stream: 'stderr', line: 'err' },
      ]),
    );
  });

  it('TASK_USAGE and TASK_STALL reach subscribers', async () => {
    const c = await client();
    await c.request({ type: 'SUBSCRIBE' });
    const id = (await c.request({ type: 'TASK_REQUEST', spec: moduleSpec('silent') })).task.id;
    expect(
      (await c.next((m) => m.type === 'TASK_USAGE' && m.taskId === id, 15_000, 'TASK_USAGE')).usage.processes,
    ).toBeGreaterThanOrEqual(1);
    expect((await c.next((m) => m.type === 'TASK_STALL' && m.taskId === id, 15_000, 'TASK_STALL')).stall).toMatchObject(
      { taskId: id },
    );
    await c.request({ type: 'TASK_KILL', taskId: id });
    await completeOf(c, id);
  });

  it('SUBSCRIBE again -> a fresh SNAPSHOT; UNSUBSCRIBE -> no more events', async () => {
    const c = await client();
    await c.request({ type: 'SUBSCRIBE' });
    const first = await c.next((m) => m.type === 'SNAPSHOT');
    const id = (await c.request({ type: 'TASK_REQUEST', spec: moduleSpec('echo') })).task.id;
    await completeOf(c, id);
    await c.request({ type: 'SUBSCRIBE' });
    const second = await c.next((m) => m.type === 'SNAPSHOT');
    expect(second.tasks.length).toBe(first.tasks.length + 1);
    expect(second.tasks.find((t: Msg) => t.id === id).state).toBe('completed');
    expect(await c.request({ type: 'UNSUBSCRIBE' })).toMatchObject({ type: 'ACK' });
    c.received.length = 0;
    const other = await client();
    const id2 = (await other.request({ type: 'TASK_REQUEST', spec: moduleSpec('echo') })).task.id;
    await expect
      .poll(async () => (await other.request({ type: 'GET', taskId: id2 })).task.state, { timeout: 15_000 })
      .toBe('completed');
    expect(c.received.filter((m) => m.type.startsWith('TASK_'))).toEqual([]);
  });

  it('every request of a burst gets exactly one reply, in any order of completion', async () => {
    const c = await client();
    const types = ['LIST', 'HISTORY', 'GET', 'UNSUBSCRIBE', 'NOPE', 'TASK_CANCEL'];
    for (let i = 0; i < 300; i++) c.sendLine(JSON.stringify({ type: types[i % types.length], id: i, taskId: '1' }));
    await expect.poll(() => c.received.length, { timeout: 10_000 }).toBe(300);
    expect(new Set(c.received.map((m) => m.id)).size).toBe(300);
  });

  it('SHUTDOWN -> ACK {}, then the daemon stops its tasks, removes its socket and closes connections', async () => {
    const c = await client();
    await c.request({ type: 'TASK_REQUEST', spec: moduleSpec('ignores-cancel') });
    expect(await c.request({ type: 'SHUTDOWN' })).toMatchObject({ type: 'ACK' });
    const t0 = Date.now();
    await daemon.closed;
    expect(Date.now() - t0).toBeLessThan(8000); // grace 2 s, then SIGKILL
    await expect.poll(() => c.closed).toBe(true);
    expect(existsSync(daemon.socketPath)).toBe(false);
  });
});
