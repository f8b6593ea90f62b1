/**
 * The orphan guard on its own: its registry survives compaction (a long-lived
 * supervisor records two lines per task), and close() kills what is still
 * registered, nothing else. Real process groups; the churned ids lie above
 * the kernel's pid_max, so they can never name a real group.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OrphanGuard } from '../../src/process/orphan-guard.js';
import { Supervisor } from '../../src/index.js';
import { fixture, isAlive, ownProcess, processes, waitFor } from '../helpers.js';

const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));

function sleeper(): number {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  child.unref();
  return child.pid!;
}

describe('orphan guard registry', () => {
  it('after many tasks (the registry compacted), close() kills the registered groups and only those', async () => {
    const guard = new OrphanGuard();
    const live = sleeper();
    const released = sleeper();
    const ours = [ownProcess(live), ownProcess(released)];
    try {
      guard.register(live);
      guard.register(released);
      guard.unregister(released);
      const registry = guard.registryPath!;
      expect(registry).toBeDefined();
      for (let i = 0; i < 40_000; i++) {
        const id = pidMax + 1 + i; // never a real group
        guard.register(id);
        guard.unregister(id);
      }
      // Compacted: 80 000 lines of "+id" / "-id" would be ~560 KiB; the registry is rewritten past 256 KiB.
      expect(statSync(registry).size).toBeLessThan(256 * 1024);
      expect(readFileSync(registry, 'latin1')).toContain(`+${live}\n`);
      const guardPid = guard.pid!;
      guard.close();
      await waitFor(() => !isAlive(live), 5000, 'the registered group to be killed');
      await waitFor(() => !isAlive(guardPid), 5000, 'the guard to exit');
      expect(isAlive(released)).toBe(true);
      expect(existsSync(dirname(registry))).toBe(false);
    } finally {
      for (const own of ours) own.kill();
    }
  });
});

/** A process that owns an orphan guard: prints its guard's pid and registry, then waits (or closes it, and exits). */
function guardOwner(then: 'wait' | 'close'): {
  child: ReturnType<typeof spawn>;
  info: Promise<{ guard: number; registry: string }>;
} {
  const guardModule = new URL('../../dist/src/process/orphan-guard.js', import.meta.url).href;
  const code = `const { OrphanGuard } = await import(${JSON.stringify(guardModule)});
    const guard = new OrphanGuard();
    console.log(JSON.stringify({ guard: guard.pid, registry: guard.registryPath }));
    if (${JSON.stringify(then)} === 'close') guard.close(); else setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = new Promise<{ guard: number; registry: string }>((resolve, reject) => {
    child.stdout.once('data', (data: Buffer) =>
      resolve(JSON.parse(String(data)) as { guard: number; registry: string }),
    );
    child.once('exit', (code) => reject(new Error(`guard owner exited (${code}) before printing`)));
  });
  return { child, info };
}

describe('orphan guard registries left behind', () => {
  it('one whose owner and guard both died is removed by the next owner to start; a live owner keeps its own', async () => {
    const dead = guardOwner('wait');
    const live = guardOwner('wait');
    try {
      const gone = await dead.info;
      const kept = await live.info;
      // Both at once, as a machine-wide SIGKILL would: stopped first, so it cannot start a new guard.
      dead.child.kill('SIGSTOP');
      process.kill(gone.guard, 'SIGKILL');
      await waitFor(() => !isAlive(gone.guard), 5000, 'the guard to die');
      dead.child.kill('SIGKILL');
      await waitFor(() => dead.child.exitCode !== null || dead.child.signalCode !== null, 5000, 'the owner to die');
      expect(existsSync(gone.registry)).toBe(true); // nobody left to remove it

      const next = guardOwner('close');
      await next.info;
      await waitFor(() => next.child.exitCode !== null, 10_000, 'the next owner to exit');
      expect(existsSync(dirname(gone.registry))).toBe(false);
      expect(existsSync(kept.registry)).toBe(true);
    } finally {
      dead.child.kill('SIGKILL');
      live.child.kill('SIGKILL');
    }
  });
});

/** Pids of the orphan guards whose command line names this lineage mark. */
function guardsOf(markName: string): number[] {
  return processes()
    .filter((p) => {
      try {
        const args = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
        return args.includes('taskwarden-guard') && args.some((arg) => arg.startsWith(`${markName}=`));
      } catch {
        return false;
      }
    })
    .map((p) => p.pid);
}

/** Pids of live processes whose environment has the mark `markName`, whatever its value. */
function marked(markName: string): number[] {
  return processes()
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p.pid}/environ`, 'latin1')
          .split('\0')
          .some((v) => v.startsWith(`${markName}=`));
      } catch {
        return false;
      }
    })
    .map((p) => p.pid);
}

describe('orphan guard and the next owner of a state directory', () => {
  it('after an orderly shutdown the guard leaves alone a task of a new owner with the same lineage token (a daemon restarted on the same state directory)', async () => {
    const token = `restart${process.pid}`;
    const first = new Supervisor({ lineageToken: token, prewarm: 0, priority: 'normal' });
    const [firstGuard] = guardsOf(`TASKWARDEN_OWNER_${token}`);
    expect(firstGuard).toBeDefined();
    const second = new Supervisor({ lineageToken: token, prewarm: 0, priority: 'normal' });
    try {
      const task = second.start({ command: 'sleep', args: ['30'] });
      await waitFor(() => task.state === 'running' && task.pid, 10_000, 'the new owner’s task to run');
      const pid = task.pid!;
      await first.shutdown();
      await waitFor(() => !isAlive(firstGuard), 10_000, "the first owner's guard to finish");
      expect(isAlive(pid), 'the new owner’s task survived the old guard').toBe(true);
      expect(task.state).toBe('running');
    } finally {
      await second.shutdown();
    }
  });

  it('after a crash the guard leaves alone a task of a new owner with the same lineage token, and kills its own', async () => {
    const token = `crash${process.pid}`;
    const markName = `TASKWARDEN_OWNER_${token}`;
    // The new owner first: its task carries the same mark name when the old owner dies.
    const second = new Supervisor({ lineageToken: token, prewarm: 0, priority: 'normal' });
    const ourGuards = new Set(guardsOf(markName));
    try {
      const task = second.start({ command: 'sleep', args: ['30'] });
      await waitFor(() => task.state === 'running' && task.pid, 10_000, 'the new owner’s task to run');
      const owner = spawn(process.execPath, [fixture('owner-escapes'), 'wait'], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, TAG: '900001', LINEAGE_TOKEN: token },
      });
      let out = '';
      owner.stdout.on('data', (chunk: Buffer) => (out += String(chunk)));
      await waitFor(() => /^ready$/m.test(out), 30_000, 'the old owner to be ready');
      const [oldGuard] = guardsOf(markName).filter((pid) => !ourGuards.has(pid));
      expect(oldGuard, "the old owner's guard").toBeDefined();
      const theirs = marked(markName).filter((pid) => pid !== task.pid);
      expect(theirs.length, "the old owner's marked processes").toBeGreaterThan(0);
      owner.kill('SIGKILL');
      await waitFor(() => !isAlive(oldGuard), 10_000, "the old owner's guard to finish");
      expect(theirs.filter(isAlive), "the old owner's processes").toEqual([]);
      expect(isAlive(task.pid!), 'the new owner’s task survived the old guard').toBe(true);
      expect(task.state).toBe('running');
    } finally {
      await second.shutdown();
    }
  }, 60_000);
});
