/**
 * The journal's promise under a full disk: what a client has seen, the journal has.
 * A real daemon on a 1 MiB tmpfs that the test fills: journal writes fail, are held
 * and retried; clients are told (HELLO's health, DAEMON_HEALTH, `taskwarden doctor`);
 * new work is refused with JOURNAL_UNWRITABLE while stops keep working; once space
 * is back the held writes go in, in order, and after shutdown a fresh read of
 * journal.db has every transition the client saw.
 */
import { containmentSupport } from '../../src/process/cgroup/support.js';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon } from '../../src/daemon/server.js';
import { Journal } from '../../src/journal/index.js';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { liveInGroup, waitFor } from '../helpers.js';
import { RawClient, runCli, tempHome, tmpfsHome, type Msg } from './helpers.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const tw = runCli;

async function hello(socketPath: string): Promise<{ client: RawClient; welcome: Msg }> {
  const client = await RawClient.open(socketPath, false);
  cleanups.push(() => client.close());
  const welcome = await client.request({ type: 'HELLO', version: PROTOCOL_VERSION, client: 'journal-health-test' });
  expect(welcome.type).toBe('WELCOME');
  return { client, welcome };
}

const SLEEPER = { command: '/bin/sleep', args: ['60'], cwd: '/' };
const QUICK = { command: '/bin/true', cwd: '/' };

describe('journal writes on a full disk', { timeout: 120_000 }, () => {
  it('are held and retried; clients are told; new work is refused, stops work; the journal is whole once space is back', async () => {
    const disk = tmpfsHome(1024);
    cleanups.push(disk.cleanup);
    const log: string[] = [];
    const d = await startDaemon({
      home: disk.home,
      log: (m) => log.push(m),
      supervisorOptions: { concurrency: 8, graceMs: 1000 },
    });
    cleanups.push(() => d.close());
    const { client: c, welcome } = await hello(d.socketPath);
    expect(welcome.health).toEqual({ journal: { writable: true, held: 0 }, logs: { writable: true, droppedLines: 0 } });
    expect((await c.request({ type: 'SUBSCRIBE' })).type).toBe('ACK');

    const sleepers: Array<{ id: string; pid: number }> = [];
    for (let i = 0; i < 3; i++) {
      const id = (await c.request({ type: 'TASK_REQUEST', spec: { ...SLEEPER, name: `sleeper ${i}` } })).task
        .id as string;
      const running = await c.next(
        (m) => m.type === 'TASK_STATUS' && m.task.id === id && m.task.state === 'running',
        20_000,
        `task ${id} running`,
      );
      sleepers.push({ id, pid: running.task.pid });
    }

    disk.fill();
    // Quick tasks (four transitions each, all seen by the client) until a journal write fails and new work is refused.
    let refused: Msg | undefined;
    await waitFor(
      async () => {
        const reply = await c.request({ type: 'TASK_REQUEST', spec: QUICK });
        if (reply.type === 'ERROR') return (refused = reply);
        await c.next(
          (m) => m.type === 'TASK_COMPLETE' && m.task.id === reply.task.id,
          20_000,
          `task ${reply.task.id} to complete`,
        );
        return false;
      },
      60_000,
      'new work to be refused',
    );
    const failing = await c.next((m) => m.type === 'DAEMON_HEALTH', 10_000, 'a DAEMON_HEALTH event');
    expect(failing.health.journal).toEqual({
      writable: false,
      failingSince: expect.any(Number),
      cause: 'ENOSPC',
      message: expect.stringContaining('SQLITE_FULL'),
      held: expect.any(Number),
    });
    expect(failing.health.journal.held).toBeGreaterThan(0);
    expect(refused).toMatchObject({ type: 'ERROR', code: 'JOURNAL_UNWRITABLE' });
    expect(refused!.message).toMatch(/journal .*journal\.db cannot be written since \d\d:\d\d:\d\d \(ENOSPC: .*\)/);
    expect(refused!.message).toContain(`free space on the disk holding ${disk.home}`);
    expect(refused!.message).toContain('cancel, kill and stop-all keep working');
    // A restart is new work too.
    expect((await c.request({ type: 'TASK_RESTART', taskId: sleepers[2].id })).code).toBe('JOURNAL_UNWRITABLE');

    // Every new client hears it in HELLO's reply; doctor says it and exits 1.
    const late = await hello(d.socketPath);
    expect(late.welcome.health.journal).toMatchObject({ writable: false, cause: 'ENOSPC' });
    const sick = await tw(disk.home, 'doctor');
    expect(sick.code, sick.stdout + sick.stderr).toBe(1);
    expect(sick.stdout).toMatch(/FAIL +journal +writes failing \(ENOSPC\) since \d\d:\d\d:\d\d/);
    expect(sick.stdout).toMatch(/FAIL +free space +0 B free/);
    const sickJson = await tw(disk.home, 'doctor', '--json');
    expect(sickJson.code).toBe(1);
    const report = JSON.parse(sickJson.stdout);
    expect(report).toMatchObject({
      home: disk.home,
      healthy: false,
      daemon: { pid: process.pid, health: { journal: { writable: false, cause: 'ENOSPC' } } },
    });
    expect(report.checks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'journal', status: 'fail' }),
        expect.objectContaining({ name: 'daemon', status: 'ok' }),
      ]),
    );

    // Stops never wait on a disk.
    const [a, b] = sleepers;
    expect((await c.request({ type: 'TASK_CANCEL', taskId: a.id })).type).toBe('ACK');
    expect(
      (await c.next((m) => m.type === 'TASK_COMPLETE' && m.task.id === a.id, 20_000, 'the cancel')).task.state,
    ).toBe('cancelled');
    expect((await c.request({ type: 'TASK_KILL', taskId: b.id })).type).toBe('ACK');
    expect((await c.next((m) => m.type === 'TASK_COMPLETE' && m.task.id === b.id, 20_000, 'the kill')).task.state).toBe(
      'killed',
    );
    for (const { pid } of [a, b])
      await waitFor(() => liveInGroup(pid).length === 0, 10_000, `group ${pid} to be empty`);

    // Space again: the retries put the held writes in, and the daemon says so.
    const freedAt = Date.now();
    disk.free();
    const healed = await c.next(
      (m) => m.type === 'DAEMON_HEALTH' && m.health.journal.writable,
      30_000,
      'the journal to be writable again',
    );
    expect(healed.health.journal).toEqual({ writable: true, held: 0 });
    const well = await tw(disk.home, 'doctor');
    expect(well.code, well.stdout + well.stderr).toBe(0);
    expect(well.stdout).toMatch(/ok +journal +writable/);
    const after = await c.request({ type: 'TASK_REQUEST', spec: QUICK });
    expect(after.type, JSON.stringify(after)).toBe('ACK');
    await c.next((m) => m.type === 'TASK_COMPLETE' && m.task.id === after.task.id, 20_000, 'the task after the outage');
    expect(c.invalid).toEqual([]);

    // What the client saw, per task, in order; then a clean shutdown and a fresh read of journal.db.
    const seen = new Map<string, string[]>();
    for (const m of c.all)
      if (m.type === 'TASK_STATUS') seen.set(m.task.id, [...(seen.get(m.task.id) ?? []), m.task.state]);
    expect(seen.size).toBeGreaterThanOrEqual(5);
    await d.close();
    const journal = Journal.open(disk.home);
    try {
      for (const [id, states] of seen) {
        const record = journal.getTask(id);
        expect(record, `task ${id} in the journal`).toBeDefined();
        expect(record!.transitions.map((t: Msg) => t.to).slice(0, states.length), `task ${id}`).toEqual(states);
      }
      // Held writes keep the time of their change, not of their flush.
      const cancelled = journal.getTask(a.id)!;
      expect(cancelled.task.state).toBe('cancelled');
      expect(cancelled.transitions.at(-1)!.at).toBeLessThan(freedAt);
      expect(journal.getTask(b.id)!.task.state).toBe('killed');
    } finally {
      journal.close();
    }
    expect(log.filter((m) => /journal: writes failing/.test(m)).length).toBeGreaterThanOrEqual(1);
    expect(log.some((m) => /journal: writable again/.test(m))).toBe(true);
  });
});

describe('journal writes to an immutable journal', { timeout: 60_000 }, () => {
  it('a WAL made immutable (chattr +i): writes held, new work refused naming the cause, a kill works, all written once it is writable', async () => {
    const h = tempHome();
    cleanups.push(h.cleanup);
    const d = await startDaemon({ home: h.home, log: () => {}, journalRetryMs: 50 });
    cleanups.push(() => d.close());
    const { client: c } = await hello(d.socketPath);
    expect((await c.request({ type: 'SUBSCRIBE' })).type).toBe('ACK');
    const first = await c.request({ type: 'TASK_REQUEST', spec: QUICK });
    await c.next((m) => m.type === 'TASK_COMPLETE' && m.task.id === first.task.id, 20_000, 'the first task');
    const wal = join(h.home, 'journal.db-wal');
    expect(existsSync(wal)).toBe(true);
    const chattr = spawnSync('chattr', ['+i', wal], { encoding: 'utf8' });
    expect(chattr.status, `chattr +i (needs root and a file system with the immutable flag): ${chattr.stderr}`).toBe(0);
    cleanups.push(() => void spawnSync('chattr', ['-i', wal]));

    const sleeper = await c.request({ type: 'TASK_REQUEST', spec: SLEEPER });
    expect(sleeper.type).toBe('ACK');
    const failing = await c.next(
      (m) => m.type === 'DAEMON_HEALTH' && !m.health.journal.writable,
      20_000,
      'the journal to fail',
    );
    const cause = failing.health.journal.cause as string;
    expect(cause).toMatch(/^SQLITE_(IOERR|READONLY|CANTOPEN)/);
    const refused = await c.request({ type: 'TASK_REQUEST', spec: QUICK });
    expect(refused).toMatchObject({ type: 'ERROR', code: 'JOURNAL_UNWRITABLE' });
    expect(refused.message).toContain(`(${cause}: `);
    expect(refused.message).toContain('writable again');
    const running = await c.next(
      (m) => m.type === 'TASK_STATUS' && m.task.id === sleeper.task.id && m.task.state === 'running',
      20_000,
      'the sleeper to run',
    );
    expect((await c.request({ type: 'TASK_KILL', taskId: sleeper.task.id })).type).toBe('ACK');
    await c.next((m) => m.type === 'TASK_COMPLETE' && m.task.id === sleeper.task.id, 20_000, 'the kill');
    await waitFor(() => liveInGroup(running.task.pid).length === 0, 10_000, 'the sleeper group to be empty');

    expect(spawnSync('chattr', ['-i', wal]).status).toBe(0);
    await c.next(
      (m) => m.type === 'DAEMON_HEALTH' && m.health.journal.writable,
      20_000,
      'the journal to be writable again',
    );
    const seen = c.all
      .filter((m) => m.type === 'TASK_STATUS' && m.task.id === sleeper.task.id)
      .map((m) => m.task.state);
    expect(seen).toEqual(['queued', 'starting', 'running', 'killing', 'killed']);
    await d.close();
    const journal = Journal.open(h.home);
    try {
      expect(journal.getTask(sleeper.task.id)!.transitions.map((t: Msg) => t.to)).toEqual(seen);
    } finally {
      journal.close();
    }
  });
});

describe('taskwarden doctor without a daemon', () => {
  it('warns that none runs, checks the directory and its space, starts nothing, exits 0', async () => {
    const h = tempHome();
    cleanups.push(h.cleanup);
    const r = await tw(h.home, 'doctor');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/warn +daemon +not running \(the next command starts one\)/);
    expect(r.stdout).toMatch(/ok +journal +none yet/);
    expect(r.stdout).toMatch(/ok +state dir/);
    expect(r.stdout).toMatch(/(ok|warn) +free space +[\d.]+ \w?i?B free of/);
    expect(r.stdout).toContain('no problems found');
    const json = JSON.parse((await tw(h.home, 'doctor', '--json')).stdout);
    expect(json).toMatchObject({ home: h.home, healthy: true });
    expect(json.daemon).toBeUndefined();
    expect(existsSync(join(h.home, 'daemon.sock'))).toBe(false);
    // Which containment row this machine is on: the machine's own answer, with the reason for a fallback.
    const machine = containmentSupport();
    if (machine.backend === 'cgroup' && process.env.TASKWARDEN_CGROUPS !== 'off') {
      expect(r.stdout).toMatch(
        /ok +containment +a daemon started now would use a cgroup per task\n +stop: cgroup\.kill/,
      );
      expect(json.containment).toMatchObject({ backend: 'cgroup' });
    } else {
      expect(r.stdout).toMatch(/warn +containment +a daemon started now would use process groups[\s\S]*not in force: /);
    }
    const before = process.env.TASKWARDEN_CGROUPS;
    process.env.TASKWARDEN_CGROUPS = 'off'; // read by spawn() at the call
    const offRun = tw(h.home, 'doctor');
    if (before === undefined) delete process.env.TASKWARDEN_CGROUPS;
    else process.env.TASKWARDEN_CGROUPS = before;
    const off = await offRun;
    expect(off.stdout).toMatch(
      /warn +containment +a daemon started now would use process groups[\s\S]*not in force: .*TASKWARDEN_CGROUPS=off/,
    );
    const missing = await tw(join(h.home, 'not-yet'), 'doctor');
    expect(missing.code).toBe(0);
    expect(missing.stdout).toMatch(/warn +state dir +.*does not exist yet/);
    expect(existsSync(join(h.home, 'not-yet'))).toBe(false);
  });
});
