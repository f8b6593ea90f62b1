/**
 * A full disk under the state directory (a 1 MiB tmpfs, filled by the test): the daemon
 * must keep running and keep stopping tasks, whatever fails to be written (its own
 * diagnostics in daemon.log, the tasks' log files, the journal).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { isAlive, liveInGroup, ownProcess, waitFor } from '../helpers.js';
import { RawClient, runCli, tmpfsHome, type Msg } from './helpers.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const tw = runCli;

/** A shell loop printing "line N" every 20 ms until stopped. */
const CHATTY = {
  command: '/bin/sh',
  args: ['-c', 'i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.02; done'],
  cwd: '/',
};

async function connect(home: string): Promise<{ client: RawClient; daemonPid: number }> {
  const client = await RawClient.open(join(home, 'daemon.sock'), false);
  cleanups.push(() => client.close());
  const welcome = await client.request({ type: 'HELLO', version: PROTOCOL_VERSION, client: 'full-disk-test' });
  expect(welcome.type).toBe('WELCOME');
  return { client, daemonPid: welcome.daemonPid as number };
}

/** Starts `n` chatty tasks and waits until each runs and has printed; returns id -> pid (its group). */
async function startChatty(client: RawClient, n: number): Promise<Map<string, number>> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const reply = await client.request({ type: 'TASK_REQUEST', spec: { ...CHATTY, name: `chatty ${i}` } });
    expect(reply.type, JSON.stringify(reply)).toBe('ACK');
    ids.push(reply.task.id);
  }
  const pids = new Map<string, number>();
  for (const id of ids) {
    const running = await client.next(
      (m) => m.type === 'TASK_STATUS' && m.task.id === id && m.task.state === 'running',
      20_000,
      `task ${id} running`,
    );
    pids.set(id, running.task.pid);
    await waitFor(
      () => client.received.some((m) => m.type === 'TASK_LOG' && m.log.taskId === id),
      20_000,
      `output of task ${id}`,
    );
  }
  return pids;
}

function lastLogLine(client: RawClient, taskId: string): string | undefined {
  for (let i = client.received.length - 1; i >= 0; i--) {
    const m = client.received[i];
    if (m.type === 'TASK_LOG' && m.log.taskId === taskId) return m.log.line as string;
  }
  return undefined;
}

/** Waits until a line the daemon got from the task (and sent us) is missing from its log file: a log write failed. */
async function logWriteFailed(client: RawClient, taskId: string): Promise<void> {
  await waitFor(
    async () => {
      const last = lastLogLine(client, taskId);
      const reply: Msg = await client.request({ type: 'LOGS', taskId }, 15_000);
      expect(reply.type, JSON.stringify(reply)).toBe('ACK');
      return last !== undefined && !reply.lines.some((l: { line: string }) => l.line === last);
    },
    30_000,
    `a write of task ${taskId}'s log to fail`,
  );
}

/** A client that sends half a message and leaves: the daemon notes it in its log. */
async function halfMessage(socketPath: string): Promise<void> {
  const socket = net.createConnection(socketPath);
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.end('{"type":"HELLO","id":1,"vers');
  await new Promise((resolve) => socket.once('close', resolve));
}

function complete(client: RawClient, id: string): Promise<Msg> {
  return client.next((m) => m.type === 'TASK_COMPLETE' && m.task.id === id, 20_000, `task ${id} to end`);
}

describe('a full disk under the state directory', { timeout: 120_000 }, () => {
  it('the background daemon stays alive, answers, and cancels and kills tasks (their processes gone)', async () => {
    const disk = tmpfsHome(1024);
    cleanups.push(disk.cleanup);
    const started = await tw(disk.home, 'daemon', '--concurrency', '8', '--grace-ms', '1000');
    expect(started.code, started.stderr).toBe(0);
    const { client, daemonPid } = await connect(disk.home);
    const daemon = ownProcess(daemonPid);
    cleanups.push(async () => {
      daemon.kill();
      await waitFor(() => !isAlive(daemonPid), 10_000, 'the daemon to be gone');
    });
    expect((await client.request({ type: 'SUBSCRIBE' })).type).toBe('ACK');
    const pids = await startChatty(client, 4);
    const [a, b] = [...pids.keys()];

    // Full, daemon.log included: its next line fails (on a real disk that takes the daemon a few dozen lines).
    expect(disk.fill(join(disk.home, 'daemon.log'))).toBeGreaterThan(0);
    // A client leaving mid-message is one such line, at once.
    await halfMessage(join(disk.home, 'daemon.sock'));
    // And a task's log: a line the daemon got (and sent us) must have failed to reach its file.
    await logWriteFailed(client, a);
    expect(isAlive(daemonPid)).toBe(true);

    const list = await client.request({ type: 'LIST' });
    expect(list.type).toBe('ACK');
    expect(list.tasks.map((t: Msg) => t.state)).toEqual(['running', 'running', 'running', 'running']);

    expect((await client.request({ type: 'TASK_CANCEL', taskId: a })).type).toBe('ACK');
    expect(['cancelled', 'killed']).toContain((await complete(client, a)).task.state);
    expect((await client.request({ type: 'TASK_KILL', taskId: b })).type).toBe('ACK');
    expect((await complete(client, b)).task.state).toBe('killed');
    const stop = await client.request({ type: 'STOP_ALL' }, 20_000);
    expect(stop.type).toBe('ACK');
    expect(stop.result.cancelled + stop.result.killed).toBe(2);
    for (const pid of pids.values())
      await waitFor(() => liveInGroup(pid).length === 0, 10_000, `process group ${pid} to be empty`);

    expect(isAlive(daemonPid)).toBe(true);
    expect((await client.request({ type: 'LIST' })).type).toBe('ACK');
    expect(client.invalid).toEqual([]);

    // Space again: the daemon's log says how much it could not write, once, and it shuts down cleanly.
    disk.free();
    expect((await client.request({ type: 'SHUTDOWN' })).type).toBe('ACK');
    await waitFor(() => !isAlive(daemonPid), 20_000, 'the daemon to exit');
    const log = readFileSync(join(disk.home, 'daemon.log'), 'utf8');
    expect(log).toMatch(/\d+ diagnostic lines? (was|were) dropped .*ENOSPC/);
    expect(log).toContain('daemon stopped');
  });
});
