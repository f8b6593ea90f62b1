/**
 * Containment by cgroup: whatever a task starts — a double fork into a new session with its
 * environment scrubbed, a setpgid child, a fork bomb, grandchildren that ignore SIGTERM — is
 * inside the task's cgroup and gone when a stop ends, by cancel, kill, stopAll or the owner's
 * death; read from /proc and from the cgroup. Also: memory limits (OOM_KILLED), the fallback's
 * honest limit, and no cgroup directory of ours left behind.
 *
 * CI runs as root on a machine with a writable cgroup hierarchy: there the backend must be
 * 'cgroup', and a machine where it is not fails here with the reason (never a silent skip).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Supervisor } from '../../src/index.js';
import { TaskCgroups } from '../../src/process/cgroup/owner.js';
import { containmentSupport } from '../../src/process/cgroup/support.js';
import { fixture, isAlive, waitFor } from '../helpers.js';

const support = containmentSupport();
const layout = support.layout;
let nextTag = 9_400 + (process.pid % 97) * 10;
const newTag = () => String(nextTag++);

/** Live processes whose command line contains `sleep <tag>` (from /proc). */
function sleepers(tag: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (
        args.some((arg) => arg === tag || arg.endsWith(`sleep ${tag}`) || arg.includes(`time.sleep(${tag})`)) &&
        isAlive(Number(name))
      )
        found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function killSleepers(tag: string): void {
  for (const pid of sleepers(tag)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Our task cgroups in every hierarchy (made by Supervisors of this process). */
function ourCgroups(): string[] {
  if (!layout) return [];
  const parents = [layout.v2, layout.cpu?.parent, layout.memory?.parent].filter((p): p is string => p !== undefined);
  return parents.flatMap((parent) =>
    readdirSync(parent)
      .filter((n) => new RegExp(`^taskwarden-\\w+-${process.pid}-\\d+-\\d+$`).test(n))
      .map((n) => join(parent, n)),
  );
}

/** A python3 whose child moves to a process group of its own (job control), then both sleep. */
const SETPGID_CHILD = (tag: string) =>
  `import os, time\nif os.fork() == 0:\n    os.setpgid(0, 0)\n    time.sleep(${tag})\nelse:\n    print('{"progress": 0.5}', flush=True)\n    time.sleep(${tag})`;

/** Task specs that leave their process group every way, each running `sleep <tag>` somewhere. */
function escapingSpecs(tag: string) {
  const ready = `echo '{"progress": 0.5}'`;
  return [
    {
      name: 'double fork, new session, no environment',
      command: 'sh',
      args: ['-c', `( setsid env -i /bin/sleep ${tag} & ); ${ready}; exec sleep ${tag}`],
    },
    { name: 'setpgid child', command: 'python3', args: ['-c', SETPGID_CHILD(tag)] },
    {
      name: 'ignores SIGTERM, grandchildren too',
      command: 'sh',
      args: ['-c', `trap '' TERM; sleep ${tag} & setsid sleep ${tag} & ${ready}; wait`],
    },
    {
      name: 'capped fork bomb (63 processes, each in a new session)',
      module: fixture('fork-bomb'),
      input: { depth: 5, tag },
    },
  ];
}

describe('cgroup containment', () => {
  afterAll(() => {
    // No cgroup directory of ours is left behind by this file's supervisors (all shut down).
    expect(ourCgroups()).toEqual([]);
  });

  it('is what this machine gives (root, writable cgroup hierarchy), or says exactly why not', () => {
    expect(support.backend, `cgroup containment unavailable: ${support.limits.join('; ')}`).toBe('cgroup');
    expect(support.controls.join('\n')).toMatch(/cgroup\.kill/);
  });

  for (const stop of ['cancel', 'kill', 'stopAll'] as const) {
    it(`${stop}: every process a task started is gone when the stop resolves, escaped or not`, async () => {
      const sup = new Supervisor({
        containment: 'cgroup',
        concurrency: 4,
        prewarm: 0,
        graceMs: 500,
        sampleIntervalMs: 600_000,
      });
      const tag = newTag();
      try {
        const tasks = escapingSpecs(tag).map((spec) => sup.start(spec));
        await waitFor(() => tasks.every((t) => t.progress), 30_000, 'every task to report it runs');
        // The fork bomb has made all its processes (1 runner + 63 shells/sleeps).
        await waitFor(() => sleepers(tag).length >= 3 + 2 + 32, 30_000, 'the escapees to run');
        const before = sleepers(tag).length;
        if (stop === 'stopAll') await sup.stopAll();
        else {
          for (const task of tasks) task[stop]();
          await Promise.all(tasks.map((t) => t.done));
        }
        const outcomes = await Promise.all(tasks.map((t) => t.done));
        expect(outcomes.map((o) => o.state).every((s) => s === 'cancelled' || s === 'killed')).toBe(true);
        expect(before).toBeGreaterThan(30);
        expect(sleepers(tag)).toEqual([]);
      } finally {
        killSleepers(tag);
        await sup.shutdown();
      }
    }, 90_000);
  }

  it('a kill at once after start finds the command in its cgroup (it is moved in by the spawner, not only by itself)', async () => {
    const sup = new Supervisor({
      containment: 'cgroup',
      concurrency: 20,
      prewarm: 0,
      graceMs: 500,
      sampleIntervalMs: 600_000,
    });
    const tag = newTag();
    try {
      const tasks = Array.from({ length: 20 }, () => {
        const task = sup.start({ command: 'sleep', args: [tag] });
        // Synchronously on 'running', which a command reaches as it is spawned: before its shell has run.
        task.on('state', (s) => s.state === 'running' && task.kill());
        return task;
      });
      const outcomes = await Promise.all(tasks.map((t) => t.done));
      expect(outcomes.map((o) => o.state)).toEqual(Array(20).fill('killed'));
      expect(sleepers(tag)).toEqual([]);
    } finally {
      killSleepers(tag);
      await sup.shutdown();
    }
  }, 60_000);

  it('owner SIGKILLed: the orphan guard kills every task cgroup, then removes them', async () => {
    const tag = newTag();
    const owner = spawn(process.execPath, [fixture('owner-cgroups')], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, TAG: tag },
    });
    try {
      let out = '';
      owner.stdout.on('data', (chunk) => (out += chunk));
      const info = await waitFor(
        () => {
          const line = out.split('\n').find((l) => l.startsWith('{'));
          return line ? (JSON.parse(line) as { owner: number; guard: number }) : undefined;
        },
        30_000,
        'the owner to start its tasks',
      );
      await waitFor(() => sleepers(tag).length >= 5, 30_000, 'the escapees to run');
      const names = () =>
        layout
          ? readdirSync(layout.v2).filter((n) => new RegExp(`^taskwarden-\\w+-${info.owner}-\\d+-\\d+$`).test(n))
          : [];
      expect(names().length).toBe(3);
      process.kill(info.owner, 'SIGKILL');
      await waitFor(
        () => sleepers(tag).length === 0,
        5_000,
        `every sleep ${tag} gone (left: ${sleepers(tag).join(', ')})`,
      );
      await waitFor(() => names().length === 0, 10_000, 'the guard to remove the task cgroups');
    } finally {
      owner.kill('SIGKILL');
      killSleepers(tag);
    }
  }, 60_000);

  it('a task over its memory limit fails OOM_KILLED with its peak; the owner and the other tasks are unharmed', async () => {
    const sup = new Supervisor({ containment: 'cgroup', concurrency: 2, prewarm: 0 });
    try {
      const other = sup.start({ command: 'sh', args: ['-c', `echo '{"progress": 0.5}'; sleep 30`] });
      const hog = sup.start({ module: fixture('eats-memory'), memoryMax: 96 * 1024 * 1024 });
      const outcome = await hog.done;
      expect(outcome, JSON.stringify(outcome)).toMatchObject({ state: 'failed', error: { code: 'OOM_KILLED' } });
      expect(outcome.error?.message).toMatch(/memory limit of 96 MiB \(peak \d/);
      expect(other.state).toBe('running');
      other.cancel();
      expect((await other.done).state).toBe('cancelled');
    } finally {
      await sup.shutdown();
    }
  }, 60_000);

  it('memoryMax is refused with the reason where no memory controller can be used', () => {
    const sup = new Supervisor({ containment: 'process-group', prewarm: 0 });
    try {
      expect(() => sup.start({ command: 'true', memoryMax: 64 * 1024 * 1024 })).toThrow(
        /cannot limit the memory of task \d+: there is no task cgroup/,
      );
      expect(() => sup.start({ command: 'true', memoryMax: 1000 })).toThrow(
        /memoryMax": must be a whole number of bytes of at least 4194304/,
      );
    } finally {
      void sup.shutdown();
    }
  });

  it('usage is read from the cgroup: CPU and processes include what left the group', async () => {
    const sup = new Supervisor({ containment: 'cgroup', prewarm: 0, sampleIntervalMs: 100, priority: 'normal' });
    const tag = newTag();
    try {
      const task = sup.start({ command: 'sh', args: ['-c', `setsid sh -c 'while :; do :; done' & sleep ${tag}`] });
      const usage = await waitFor(
        () => (task.usage && task.usage.processes >= 3 && task.usage.cpuPercent > 20 ? task.usage : undefined),
        20_000,
        'a sample that sees the escaped spinner',
      );
      expect(usage.processes).toBeGreaterThanOrEqual(3);
      task.kill();
      await task.done;
    } finally {
      killSleepers(tag);
      await sup.shutdown();
    }
  }, 30_000);

  it('a task cgroup with cgroups of its own inside (a nested Supervisor killed with it) is removed whole', () => {
    if (!layout) throw new Error(`no cgroup layout: ${support.limits.join('; ')}`);
    const cgroup = new TaskCgroups(layout, 'nested').create();
    mkdirSync(join(cgroup.path, 'inner'));
    mkdirSync(join(cgroup.path, 'inner', 'innermost'));
    expect(cgroup.remove()).toBe(true);
    expect(existsSync(cgroup.path)).toBe(false);
  });

  it('usage reaches every task when many run (the sampler reads them a slice per turn)', async () => {
    const sup = new Supervisor({
      containment: 'cgroup',
      prewarm: 0,
      concurrency: 20,
      sampleIntervalMs: 100,
      priority: 'normal',
    });
    const tag = newTag();
    try {
      const tasks = Array.from({ length: 20 }, () => sup.start({ command: 'sleep', args: [tag] }));
      await waitFor(
        () => tasks.every((task) => (task.usage?.processes ?? 0) >= 1 && (task.usage?.windowMs ?? 0) > 0),
        20_000,
        'a second sample of each of the 20 tasks',
      );
      await sup.stopAll();
      expect(sleepers(tag)).toEqual([]);
    } finally {
      killSleepers(tag);
      await sup.shutdown();
    }
  }, 30_000);

  it('leftovers of an owner that died with its guard are killed and removed by the next Supervisor', async () => {
    if (!layout) throw new Error(`no cgroup layout: ${support.limits.join('; ')}`);
    const dead = spawnSync('true').pid; // a pid that no longer runs
    const name = `taskwarden-leftover-${dead}-1-1`;
    const dir = join(layout.v2, name);
    mkdirSync(dir);
    const tag = newTag();
    const sleeper = spawn('sleep', [tag], { detached: true, stdio: 'ignore' });
    writeFileSync(join(dir, 'cgroup.procs'), String(sleeper.pid));
    try {
      const sup = new Supervisor({ prewarm: 0, containment: 'cgroup' });
      await waitFor(() => !existsSync(dir), 10_000, 'the leftover cgroup to be removed');
      await waitFor(() => sleepers(tag).length === 0, 5_000, 'the leftover process to be killed');
      await sup.shutdown();
    } finally {
      sleeper.kill('SIGKILL');
    }
  }, 30_000);

  it('the process-group fallback keeps its documented limit: a double fork that scrubs its environment escapes', async () => {
    // No /proc sample may run (the watchdog's pace would set one): one taken while the middle shell
    // still lived would link the sleep to the task, and the stop would catch it after all.
    const sup = new Supervisor({
      containment: 'process-group',
      prewarm: 0,
      sampleIntervalMs: 600_000,
      stallAfterMs: Infinity,
    });
    const tag = newTag();
    try {
      expect(sup.containment.backend).toBe('process-group');
      const task = sup.start({
        command: 'sh',
        args: ['-c', `( setsid env -i /bin/sleep ${tag} & ); echo '{"progress": 0.5}'; exec sleep ${tag}`],
      });
      // Both must be sleep itself (not setsid or env on the way to it), the escapee in a session of its own.
      const escaped = () =>
        sleepers(tag).filter((pid) => {
          try {
            const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
            return stat.includes('(sleep)') && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== task.pid;
          } catch {
            return false;
          }
        });
      await waitFor(() => task.progress && escaped().length === 1, 20_000, 'the escapee to run on its own');
      task.kill();
      await task.done;
      // Honest: nothing links the orphaned, unmarked sleep to the task any more. With cgroups it is gone (tests above).
      expect(sleepers(tag).length).toBe(1);
    } finally {
      killSleepers(tag);
      await sup.shutdown();
    }
  }, 30_000);
});
