/**
 * The typed DaemonClient, as a user of the package gets it (`import { DaemonClient } from
 * 'taskwarden'`): against a real daemon every reply has its request type's shape, and against a
 * real socket server that answers with the wrong shapes every such reply is rejected with a
 * BAD_MESSAGE that names the request type and the field, while the connection keeps working.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync } from 'node:fs';
import net from 'node:net';
import { DaemonClient, DaemonError, type ResponseOf } from '../../src/index.js';
import { socketPath } from '../../src/daemon/home.js';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { fixture } from '../helpers.js';
import { inProcessDaemon, tempHome } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('DaemonClient from the package entry, against a real daemon', () => {
  it('answers each request with its typed reply: TASK_REQUEST, GET, LOGS, LIST, STOP_ALL', async () => {
    const daemon = await inProcessDaemon(cleanups);
    const client = await DaemonClient.connect({ home: daemon.home, autostart: false, clientName: 'typed-test' });
    cleanups.push(() => client.close());
    expect(client.welcome.daemonPid).toBe(process.pid);

    const subscribed = await client.subscribe();
    expect(subscribed).toEqual([]);
    const completed = new Set<string>();
    client.on('event', (event) => event.type === 'TASK_COMPLETE' && completed.add(event.task.id));
    const started: ResponseOf<'TASK_REQUEST'> = await client.request('TASK_REQUEST', {
      spec: { module: fixture('echo'), input: { when: new Date(0) } },
    });
    expect(started.task.kind).toBe('module');
    await expect.poll(() => completed.has(started.task.id), { timeout: 15_000 }).toBe(true);

    const record = await client.request('GET', { taskId: started.task.id });
    expect(record.task.state).toBe('completed');
    // Tagged values come back as what they were: the Date is a Date.
    expect((record.task.outcome?.result as { input: { when: Date } }).input.when).toEqual(new Date(0));
    expect(record.attempts.map((a) => a.attempt)).toEqual([1]);
    expect(record.transitions.at(-1)?.to).toBe('completed');

    const talker = await client.request('TASK_REQUEST', {
      spec: { command: '/bin/sh', args: ['-c', 'echo hello; echo oops >&2'] },
    });
    // Log lines reach their file within the log store's flush interval (100 ms): poll, with room for a busy machine.
    await expect
      .poll(async () => (await client.request('LOGS', { taskId: talker.task.id })).lines, { timeout: 10_000 })
      .toEqual([
        { stream: 'stdout', line: 'hello' },
        { stream: 'stderr', line: 'oops' },
      ]);
    expect((await client.request('LOGS', { taskId: talker.task.id })).attempt).toBe(1);

    const { tasks } = await client.request('LIST', { includeFinished: true });
    expect(tasks.map((t) => t.id)).toEqual(expect.arrayContaining([started.task.id, talker.task.id]));

    await expect.poll(() => completed.has(talker.task.id), { timeout: 15_000 }).toBe(true);
    const { result } = await client.request('STOP_ALL');
    expect(result).toMatchObject({ cancelled: 0, killed: 0, notStarted: 0 });
    expect(typeof result.ms).toBe('number');
  });
});

/** A real Unix socket server that speaks the framing and HELLO, and answers every other request with `replies[type]`. */
async function fakeDaemon(replies: Record<string, object>): Promise<string> {
  const home = tempHome();
  cleanups.push(home.cleanup);
  const path = socketPath(home.home);
  const server = net.createServer((socket) => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const request = JSON.parse(buffer.slice(0, newline)) as { type: string; id: number };
        buffer = buffer.slice(newline + 1);
        const payload =
          request.type === 'HELLO'
            ? { type: 'WELCOME', version: PROTOCOL_VERSION, daemonPid: process.pid, home: home.home }
            : { type: 'ACK', ...replies[request.type] };
        socket.write(`${JSON.stringify({ ...payload, id: request.id })}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  chmodSync(path, 0o600);
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return home.home;
}

async function rejection(promise: Promise<unknown>): Promise<DaemonError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DaemonError);
  return error as DaemonError;
}

describe('DaemonClient rejects replies that do not have their request type’s shape', () => {
  it('names the request type and the field, and the connection keeps working', async () => {
    const home = await fakeDaemon({
      TASK_REQUEST: { task: { id: '7' } },
      LOGS: { attempt: 1, lines: ['a bare string, not {stream, line}'] },
      STOP_ALL: { cancelled: 1, killed: 0 },
      LIST: { tasks: [] },
    });
    const client = await DaemonClient.connect({ home, autostart: false });
    cleanups.push(() => client.close());

    const badTask = await rejection(client.request('TASK_REQUEST', { spec: { command: '/bin/true' } }));
    expect(badTask.code).toBe('BAD_MESSAGE');
    expect(badTask.requestType).toBe('TASK_REQUEST');
    expect(badTask.message).toMatch(
      /^invalid reply from the daemon to TASK_REQUEST: TASK_REQUEST reply\.task\.name: required/,
    );

    const badLines = await rejection(client.request('LOGS', { taskId: '7' }));
    expect(badLines.message).toContain('LOGS reply.lines[0]: expected object, got string');

    // The result of STOP_ALL sits under `result`: a flat payload is not what STOP_ALL is answered with.
    const flat = await rejection(client.request('STOP_ALL'));
    expect(flat.message).toContain('STOP_ALL reply.result: required');

    // The bad replies cost nothing else: the next good one resolves, typed.
    expect(await client.request('LIST')).toEqual({ tasks: [] });
    expect(client.closed).toBe(false);
  });

  it('an ACK where WELCOME is due fails connect() with the same clear error', async () => {
    const home = tempHome();
    cleanups.push(home.cleanup);
    const path = socketPath(home.home);
    const server = net.createServer((socket) =>
      socket.on('data', (chunk) => {
        const request = JSON.parse(String(chunk)) as { id: number };
        socket.write(`${JSON.stringify({ type: 'ACK', id: request.id })}\n`);
      }),
    );
    await new Promise<void>((resolve) => server.listen(path, resolve));
    chmodSync(path, 0o600);
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const error = await rejection(DaemonClient.connect({ home: home.home, autostart: false }));
    expect(error.message).toBe('invalid reply from the daemon to HELLO: expected WELCOME, got ACK');
  });
});
