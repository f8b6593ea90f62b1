/**
 * Nothing lost when the daemon dies: SIGKILL it while tasks run, find no task
 * process left after 1 s, start a new daemon on the same state directory and
 * find the running tasks 'interrupted' and the queued ones run. Recovery kills a
 * left-over group only when pid AND start time match: a reused pid is spared.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { DaemonClient } from '../../src/daemon/client.js';
import { startDaemon } from '../../src/daemon/server.js';
import { Journal } from '../../src/journal/index.js';
import { readProcStat } from '../../src/process/proc.js';
import type { TaskSpec } from '../../src/supervisor/types.js';
import type { RecordedTask } from '../../src/journal/recorded-state.js';
import { fixture, guardRegistry, isAlive, liveInGroup, ownProcess, processes, sleep, waitFor } from '../helpers.js';
import { spawnDaemon, tempHome } from './helpers.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function home(): string {
  const h = tempHome();
  cleanups.push(h.cleanup);
  return h.home;
}

async function connect(h: string): Promise<DaemonClient> {
  const client = await DaemonClient.connect({ home: h, autostart: false, clientName: 'recovery-test' });
  cleanups.push(() => client.close());
  return client;
}

/** The task once it runs (so with a pid) and `what` holds. */
async function waitRunning(
  client: DaemonClient,
  id: string,
  what: (t: RecordedTask) => boolean = () => true,
): Promise<RecordedTask & { pid: number }> {
  return waitFor(
    async () => {
      const { task } = await client.request('GET', { taskId: id });
      const { pid } = task;
      return task.state === 'running' && pid !== undefined && what(task) ? { ...task, pid } : undefined;
    },
    15_000,
    `task ${id} running`,
  );
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return ''; // gone since the listing
  }
}

/** The daemon's orphan guard: a /bin/sh child of the daemon running the guard loop. */
function guardOf(daemonPid: number): number | undefined {
  return processes().find((p) => {
    if (p.ppid !== daemonPid || p.comm !== 'sh') return false;
    try {
      return readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes('read -r line');
    } catch {
      return false;
    }
  })?.pid;
}

/** Stops a daemon's orphan guard (SIGSTOP) so that only recovery can clean up; killed when the test ends. */
async function freezeGuard(daemonPid: number): Promise<void> {
  const guard = await waitFor(() => guardOf(daemonPid), 5000, 'the orphan guard');
  process.kill(guard, 'SIGSTOP');
  // Its registry (the argument after its $0) is left behind by a killed guard: ours to remove.
  const registry = guardRegistry(guard);
  cleanups.push(() => {
    process.kill(guard, 'SIGKILL');
    if (registry.includes('taskwarden-guard-')) rmSync(dirname(registry), { recursive: true, force: true });
  });
}

describe('recovery after the daemon is SIGKILLed', () => {
  it('no task process survives the daemon (promise: 1 s); a new daemon marks running tasks interrupted and runs the queued ones', async () => {
    const h = home();
    const first = await spawnDaemon(h, ['--concurrency', '3', '--grace-ms', '200']);
    cleanups.push(() => void first.child.kill('SIGKILL'));
    const client = await connect(h);
    await client.subscribe();
    const run = async (spec: TaskSpec) => (await client.request('TASK_REQUEST', { spec })).task.id;
    const running = [
      await run({ module: fixture('sync-loop') }),
      await run({ module: fixture('grandchildren') }),
      await run({ command: 'sh', args: ['-c', 'sleep 1000 & sleep 1000 & wait'] }),
    ];
    const queued = [
      await run({ module: fixture('echo'), input: 'q1' }),
      await run({ module: fixture('echo'), input: 'q2' }),
    ];
    const pgids: number[] = [];
    for (const id of running)
      pgids.push((await waitRunning(client, id, (t) => t.progress !== undefined || t.kind === 'command')).pid);
    // The grandchildren fixture logs "child <pid>" once its shell and sleeps run.
    await waitFor(
      () => liveInGroup(pgids[1]).length >= 4 && liveInGroup(pgids[2]).length >= 3,
      10_000,
      'grandchildren',
    );

    process.kill(first.child.pid!, 'SIGKILL');
    await first.exited;
    // The promise is 1 s (measured under load by `npm run bench -- load`); a test on a busy machine allows more.
    await waitFor(() => pgids.every((g) => liveInGroup(g).length === 0), 5000, 'every task group to be empty');

    const second = await spawnDaemon(h, ['--concurrency', '3']);
    cleanups.push(async () => {
      second.child.kill('SIGTERM');
      await second.exited;
    });
    const next = await connect(h);
    for (const id of running) {
      const { task, transitions } = await next.request('GET', { taskId: id });
      expect(task.state).toBe('interrupted');
      expect(transitions.at(-1)).toMatchObject({ to: 'interrupted' });
    }
    // The sync loop reported progress before it spun: kept.
    expect((await next.request('GET', { taskId: running[0] })).task.progress).toMatchObject({ fraction: 0.01 });
    for (const id of queued) {
      await waitFor(
        async () => (await next.request('GET', { taskId: id })).task.state === 'completed',
        15_000,
        `queued task ${id} to run`,
      );
    }
    // New ids continue after the journal's.
    const fresh = (await next.request('TASK_REQUEST', { spec: { module: fixture('echo') } })).task.id;
    expect(Number(fresh)).toBe(6);
    expect(second.output()).toMatch(/recovery: 3 task\(s\) interrupted/);

    // An interrupted task can be restarted by id: its recorded spec runs again as attempt 2.
    const restarted = await next.request('TASK_RESTART', { taskId: running[2] });
    expect(restarted.task).toMatchObject({ id: running[2], attempt: 2 });
    const again = await waitRunning(next, running[2], (t) => t.attempt === 2);
    await waitFor(() => liveInGroup(again.pid).length >= 3, 10_000, 'the restarted command and its sleeps');
    await next.request('TASK_KILL', { taskId: running[2] });
    await waitFor(
      async () => (await next.request('GET', { taskId: running[2] })).task.state === 'killed',
      10_000,
      'attempt 2 killed',
    );
    const { attempts, transitions } = await next.request('GET', { taskId: running[2] });
    expect(attempts.map((a) => [a.attempt, a.state])).toEqual([
      [1, 'interrupted'],
      [2, 'killed'],
    ]);
    expect(transitions.find((t) => t.detail?.restartedFromJournal)).toMatchObject({
      from: 'interrupted',
      to: 'queued',
      attempt: 2,
    });
  });

  it('a task finished under an earlier daemon can be restarted by id; an unknown id is refused', async () => {
    const h = home();
    const first = await spawnDaemon(h);
    cleanups.push(() => void first.child.kill('SIGKILL'));
    const client = await connect(h);
    const id = (await client.request('TASK_REQUEST', { spec: { module: fixture('echo'), input: 'again' } })).task.id;
    await waitFor(
      async () => (await client.request('GET', { taskId: id })).task.state === 'completed',
      15_000,
      'attempt 1 to complete',
    );
    await client.request('SHUTDOWN');
    await first.exited;

    const second = await spawnDaemon(h);
    cleanups.push(async () => {
      second.child.kill('SIGTERM');
      await second.exited;
    });
    const next = await connect(h);
    const created = (await next.request('GET', { taskId: id })).task.createdAt;
    expect((await next.request('TASK_RESTART', { taskId: id })).task).toMatchObject({
      id,
      attempt: 2,
      createdAt: created,
    });
    const done = await waitFor(
      async () => {
        const { task } = await next.request('GET', { taskId: id });
        return task.state === 'completed' && task.attempt === 2 ? task : undefined;
      },
      15_000,
      'attempt 2 to complete',
    );
    expect(done.outcome?.result).toMatchObject({ input: 'again', attempt: 2 });
    await expect(next.request('TASK_RESTART', { taskId: '99' })).rejects.toMatchObject({ code: 'UNKNOWN_TASK' });
  });

  it('recovery kills a left-over group itself when the orphan guard is gone too (same pid and start time)', async () => {
    const h = home();
    const first = await spawnDaemon(h, ['--concurrency', '2']);
    cleanups.push(() => void first.child.kill('SIGKILL'));
    const client = await connect(h);
    const id = (await client.request('TASK_REQUEST', { spec: { command: 'sh', args: ['-c', 'sleep 1000 & wait'] } }))
      .task.id;
    const { pid } = await waitRunning(client, id);
    await waitFor(() => liveInGroup(pid).length >= 2, 5000, 'sleep in the group');
    await freezeGuard(first.child.pid!);
    process.kill(first.child.pid!, 'SIGKILL');
    await first.exited;
    await sleep(200);
    expect(liveInGroup(pid).length).toBeGreaterThan(0);

    const second = await spawnDaemon(h);
    cleanups.push(async () => {
      second.child.kill('SIGTERM');
      await second.exited;
    });
    await waitFor(() => liveInGroup(pid).length === 0, 2000, 'recovery to kill the left-over group');
    const next = await connect(h);
    const { transitions } = await next.request('GET', { taskId: id });
    expect(transitions.at(-1)).toMatchObject({ to: 'interrupted', detail: { groupKilled: true, pid } });
  });

  it('recovery kills what a dead daemon left outside live groups: members of a group whose leader exited, and escapees (by lineage mark)', async () => {
    const h = home();
    const tag = String(900_000 + Math.floor(Math.random() * 100_000));
    const first = await spawnDaemon(h);
    cleanups.push(() => void first.child.kill('SIGKILL'));
    const client = await connect(h);
    const script = `sleep ${tag} & setsid sleep ${tag} & wait`;
    const id = (await client.request('TASK_REQUEST', { spec: { command: 'sh', args: ['-c', script] } })).task.id;
    const { pid } = await waitRunning(client, id);
    const cmdline = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
      } catch {
        return ''; // gone since the listing
      }
    };
    const sleeps = () =>
      processes()
        .filter((p) => p.comm === 'sleep' && p.state !== 'Z' && cmdline(p.pid).includes(tag))
        .map((p) => p.pid);
    await waitFor(() => sleeps().length === 2, 5000, 'both sleeps');
    await freezeGuard(first.child.pid!);
    cleanups.push(() => {
      for (const p of sleeps()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    });
    process.kill(first.child.pid!, 'SIGKILL');
    await first.exited;
    process.kill(pid, 'SIGKILL'); // the leader is gone; its group keeps a sleep, and the setsid'd one is in no group of ours
    await waitFor(() => !isAlive(pid), 5000, 'the leader to die');
    expect(sleeps().length).toBe(2);

    const second = await spawnDaemon(h);
    cleanups.push(async () => {
      second.child.kill('SIGTERM');
      await second.exited;
    });
    await waitFor(() => sleeps().length === 0, 5000, 'recovery to kill both sleeps');
    const next = await connect(h);
    const { transitions } = await next.request('GET', { taskId: id });
    expect(transitions.at(-1)).toMatchObject({ to: 'interrupted', detail: { groupKilled: true, pid } });
  });

  it("with cgroups, recovery kills even what neither a group nor a lineage mark leads to (a double fork that scrubbed its environment), and removes the dead daemon's cgroups", async () => {
    const h = home();
    const tag = String(900_000 + Math.floor(Math.random() * 100_000));
    const first = await spawnDaemon(h, ['--containment', 'cgroup']);
    cleanups.push(() => void first.child.kill('SIGKILL'));
    const client = await connect(h);
    expect(client.welcome.containment?.backend).toBe('cgroup');
    const script = `( setsid env -i /bin/sleep ${tag} & ); exec sleep ${tag}`;
    const id = (
      (await client.request('TASK_REQUEST', { spec: { command: 'sh', args: ['-c', script] } })) as {
        task: { id: string };
      }
    ).task.id;
    await waitRunning(client, id);
    const sleeps = () =>
      processes()
        .filter((p) => p.comm === 'sleep' && p.state !== 'Z' && readCmdline(p.pid).includes(tag))
        .map((p) => p.pid);
    await waitFor(() => sleeps().length === 2, 5000, 'both sleeps');
    const cgroupsOf = (pid: number) =>
      readdirSync('/sys/fs/cgroup/unified').filter((n) => new RegExp(`^taskwarden-\\w+-${pid}-\\d+-\\d+$`).test(n));
    const daemonPid = first.child.pid!;
    expect(cgroupsOf(daemonPid).length).toBeGreaterThan(0);
    await freezeGuard(daemonPid);
    cleanups.push(() => {
      for (const p of sleeps()) process.kill(p, 'SIGKILL');
    });
    process.kill(daemonPid, 'SIGKILL');
    await first.exited;
    await sleep(200);
    expect(sleeps().length).toBe(2);

    const second = await spawnDaemon(h, ['--containment', 'cgroup']);
    cleanups.push(async () => {
      second.child.kill('SIGTERM');
      await second.exited;
    });
    await waitFor(() => sleeps().length === 0, 5000, 'recovery to kill both sleeps');
    await waitFor(() => cgroupsOf(daemonPid).length === 0, 10_000, "the dead daemon's cgroups to be removed");
    expect(second.output()).toMatch(/[1-9]\d* task cgroup\(s\) killed/);
  });

  it('pid-reuse guard: a journaled pid that is alive with another start time is never signalled', async () => {
    const h = home();
    // Two processes of our own, each leading its own group, standing in for "the pid now belongs to someone else".
    const reused = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const same = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const ours = [ownProcess(reused.pid!), ownProcess(same.pid!)];
    cleanups.push(() => {
      for (const own of ours) own.kill();
    });
    await waitFor(() => readProcStat(reused.pid!) && readProcStat(same.pid!), 2000, 'sleeps');
    const journal = Journal.open(h);
    const row = (id: string, pid: number) => ({
      id,
      name: `t${id}`,
      kind: 'command' as const,
      spec: { command: 'sleep', args: ['30'] },
      state: 'running' as const,
      attempt: 1,
      pid,
      createdAt: Date.now(),
      startedAt: Date.now(),
    });
    journal.recordTask(row('1', reused.pid!));
    journal.recordSpawn('1', 1, reused.pid!, readProcStat(reused.pid!)!.startTime + 12345);
    journal.recordTask(row('2', same.pid!));
    journal.recordSpawn('2', 1, same.pid!, readProcStat(same.pid!)!.startTime);
    journal.close();

    const daemon = await startDaemon({ home: h, log: () => {} });
    cleanups.push(() => daemon.close());
    expect(daemon.recovery.spared).toEqual([reused.pid]);
    expect(daemon.recovery.killedGroups).toEqual([same.pid]);
    expect(daemon.recovery.interrupted.map((t) => t.id)).toEqual(['1', '2']);
    await waitFor(() => !isAlive(same.pid!), 2000, 'the matching process to be killed');
    await sleep(100);
    expect(isAlive(reused.pid!)).toBe(true);
  });
});
