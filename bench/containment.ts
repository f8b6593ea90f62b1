/**
 * Both containment backends side by side in one run (`npm run bench -- core`): a kill until the
 * task is known empty (cgroup: populated 0; process group: the group and its escapees gone), the
 * cost a cgroup adds to a start, and stopping 50 tasks at once against bare child_process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Supervisor, type Task } from '../src/index.js';
import { containmentSupport } from '../src/process/cgroup/support.js';
import { TaskCgroups } from '../src/process/cgroup/owner.js';
import { nowMs, percentile, row, type BenchRow } from './lib/stats.js';

type Backend = 'cgroup' | 'process-group';

const STOP_ALL_TASKS = 50;

function firstLog(task: Task): Promise<number> {
  return new Promise((resolve) => task.once('log', () => resolve(nowMs())));
}

/** kill() -> done, for a command with a child (sh -c 'sleep & wait'): both processes must be gone. */
async function killRuns(backend: Backend, runs: number): Promise<{ kill: number[]; start: number[] }> {
  const sup = new Supervisor({ containment: backend, prewarm: 0, stallAfterMs: Infinity, priority: 'normal' });
  const kill: number[] = [];
  const start: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const t0 = nowMs();
      const task = sup.start({ command: '/bin/sh', args: ['-c', 'echo started; sleep 1000 & wait'] });
      start.push((await firstLog(task)) - t0);
      const k0 = nowMs();
      task.kill();
      await task.done;
      kill.push(nowMs() - k0);
    }
  } finally {
    await sup.shutdown();
  }
  return { kill, start };
}

/** stopAll() of 50 running commands -> every process gone. */
async function stopAllRuns(backend: Backend, rounds: number): Promise<number[]> {
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const sup = new Supervisor({
      containment: backend,
      prewarm: 0,
      concurrency: STOP_ALL_TASKS,
      stallAfterMs: Infinity,
      priority: 'normal',
    });
    try {
      const tasks = Array.from({ length: STOP_ALL_TASKS }, () =>
        sup.start({ command: '/bin/sh', args: ['-c', 'echo started; exec sleep 1000'] }),
      );
      await Promise.all(tasks.map(firstLog));
      const t0 = nowMs();
      await sup.stopAll();
      samples.push(nowMs() - t0);
    } finally {
      await sup.shutdown();
    }
  }
  return samples;
}

/** The floor: 50 bare detached children, SIGTERM to each group, until every exit is reaped. */
async function bareStopAll(rounds: number): Promise<number[]> {
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const children: ChildProcess[] = Array.from({ length: STOP_ALL_TASKS }, () =>
      spawn('/bin/sh', ['-c', 'echo started; exec sleep 1000'], {
        detached: true,
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    );
    await Promise.all(children.map((child) => new Promise((resolve) => child.stdout!.once('data', resolve))));
    const exits = children.map((child) => new Promise((resolve) => child.once('exit', resolve)));
    const t0 = nowMs();
    for (const child of children) process.kill(-child.pid!, 'SIGTERM');
    await Promise.all(exits);
    samples.push(nowMs() - t0);
  }
  return samples;
}

/** What making (and later removing) a task's cgroup costs by itself: mkdir in each hierarchy, the CPU share. */
function createAndRemove(runs: number): number[] {
  const layout = containmentSupport().layout!;
  const cgroups = new TaskCgroups(layout, 'bench');
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = nowMs();
    const cgroup = cgroups.create();
    cgroup.setCpu({ nice: 19, schedIdle: true });
    samples.push(nowMs() - t0);
    cgroup.remove();
  }
  return samples;
}

export async function runContainmentBench(runs: number): Promise<BenchRow[]> {
  const support = containmentSupport();
  if (support.backend !== 'cgroup') {
    return [
      row(
        `containment: cgroup backend unavailable here (${support.limits.join('; ')}); process groups only`,
        [0],
        'ms',
        { note: 'see taskwarden doctor' },
      ),
    ];
  }
  const rounds = Math.max(5, Math.floor(runs / 10));
  const cgroup = await killRuns('cgroup', runs);
  const group = await killRuns('process-group', runs);
  const stopCgroup = await stopAllRuns('cgroup', rounds);
  const stopGroup = await stopAllRuns('process-group', rounds);
  const stopBare = await bareStopAll(rounds);
  const create = createAndRemove(runs);
  const startOverhead = percentile(cgroup.start, 50) - percentile(group.start, 50);
  return [
    row('containment: kill -> empty, cgroup (cgroup.kill, populated 0)', cgroup.kill, 'ms', {
      target: 'p50 <= the process-group kill',
      met: percentile(cgroup.kill, 50) <= percentile(group.kill, 50),
    }),
    row('containment: kill -> empty, process group (kill(-pgid), group and escapees gone)', group.kill),
    row('containment: start() -> first output, cgroup', cgroup.start, 'ms', {
      target: 'start overhead <= 1 ms (p50 difference)',
      met: startOverhead <= 1,
      note: `p50 difference ${startOverhead.toFixed(2)} ms`,
    }),
    row('containment: start() -> first output, process group', group.start),
    row('containment: make a task cgroup (mkdir in each hierarchy + cpu.idle)', create, 'ms', {
      note: 'part of the cgroup start above',
    }),
    row(`containment: stopAll() of ${STOP_ALL_TASKS} tasks -> all gone, cgroup`, stopCgroup, 'ms', {
      target: '<= bare child_process',
      met: percentile(stopCgroup, 50) <= percentile(stopBare, 50),
    }),
    row(`containment: stopAll() of ${STOP_ALL_TASKS} tasks -> all gone, process group`, stopGroup),
    row(`floor: ${STOP_ALL_TASKS} bare detached children, SIGTERM each group -> all reaped`, stopBare, 'ms', {
      note: 'no taskwarden',
    }),
  ];
}
