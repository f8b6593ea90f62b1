/**
 * Pause and resume: a paused task's processes are frozen (cgroup.freeze, or SIGSTOP with process
 * groups): no CPU time, no progress; resume lets it go on where it was. The watchdog does not
 * count a paused task as stalled; cancel and kill of a paused task work at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Supervisor, type Task } from '../../src/index.js';
import { fixture, sleep, waitFor } from '../helpers.js';

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.shutdown();
  sup = undefined;
});

/** utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function procState(pid: number): string {
  return readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1].split(' ')[0];
}

/** The value once it has stayed the same for `quietMs` (bounded: a value that keeps changing fails). */
async function steady<T>(read: () => T, quietMs: number): Promise<T> {
  let value = read();
  let since = Date.now();
  await waitFor(
    () => {
      const now = read();
      if (now !== value) [value, since] = [now, Date.now()];
      return Date.now() - since >= quietMs;
    },
    10_000,
    'the progress to settle after the pause',
  );
  return value;
}

async function runningWithProgress(task: Task): Promise<number> {
  await waitFor(() => task.state === 'running' && task.progress, 20_000, 'the task to run and report progress');
  return task.pid!;
}

describe.each(['cgroup', 'process-group'] as const)('pause and resume (%s containment)', (containment) => {
  it('pause freezes the task (no CPU, no progress), resume lets it go on from where it was', async () => {
    sup = new Supervisor({ containment, prewarm: 0, priority: 'normal', stallAfterMs: Infinity });
    const spinner = sup.start({ module: fixture('silent'), input: { spin: true } });
    const stepper = sup.start({ module: fixture('cooperative'), input: { steps: 100_000, stepMs: 5 } });
    await runningWithProgress(stepper);
    const pid = await waitFor(() => spinner.state === 'running' && spinner.pid, 20_000, 'the spinner to run');
    await waitFor(() => cpuTicks(pid) > 0, 20_000, 'the spinner to burn CPU');

    spinner.pause();
    stepper.pause();
    expect(spinner.state).toBe('paused');
    expect(stepper.state).toBe('paused');
    // Frozen (cgroup freezer: the kernel finishes it at once, shown as sleeping) or stopped (T).
    await waitFor(
      () => (containment === 'process-group' ? procState(pid) === 'T' : procState(pid) !== 'R'),
      5000,
      'the spinner to be frozen',
    );
    const ticks = cpuTicks(pid);
    // Progress the stepper reported before it froze may still be on its way (its pipe, the
    // supervisor's coalescing): what counts is that nothing new comes once that has arrived.
    const progress = await steady(() => stepper.progress!.fraction, 300);
    await sleep(500);
    expect(cpuTicks(pid)).toBe(ticks);
    expect(stepper.progress!.fraction).toBe(progress);

    stepper.resume();
    spinner.resume();
    expect(stepper.state).toBe('running');
    await waitFor(() => stepper.progress!.fraction > progress, 20_000, 'progress after resume');
    await waitFor(() => cpuTicks(pid) > ticks, 20_000, 'CPU time after resume');
    spinner.cancel();
    stepper.cancel();
    expect((await spinner.done).state).toBe('cancelled');
    expect((await stepper.done).state).toBe('cancelled');
  }, 60_000);

  it('cancel of a paused task runs its cleanup (thawed with the signal pending); kill ends it at once', async () => {
    sup = new Supervisor({ containment, prewarm: 0, priority: 'normal', graceMs: 10_000, stallAfterMs: Infinity });
    const cooperative = sup.start({ module: fixture('cooperative'), input: { steps: 100_000, stepMs: 5 } });
    const stubborn = sup.start({ module: fixture('sync-loop') });
    await runningWithProgress(cooperative);
    await waitFor(() => stubborn.state === 'running' && stubborn.pid, 20_000, 'the sync loop to run');
    cooperative.pause();
    stubborn.pause();
    cooperative.cancel();
    const cancelled = await cooperative.done;
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.escalated).toBeUndefined();
    const started = performance.now();
    stubborn.kill();
    expect((await stubborn.done).state).toBe('killed');
    expect(performance.now() - started).toBeLessThan(5000);
  }, 60_000);

  it('a paused task is not stalled, whatever the watchdog says; resume restarts its clock', async () => {
    sup = new Supervisor({
      containment,
      prewarm: 0,
      priority: 'normal',
      stallAfterMs: 300,
      sampleIntervalMs: 50,
      onStall: 'kill',
    });
    const task = sup.start({ module: fixture('cooperative'), input: { steps: 100_000, stepMs: 5 } });
    await runningWithProgress(task);
    task.pause();
    await sleep(1500);
    expect(task.state).toBe('paused');
    expect(task.stall).toBeUndefined();
    task.resume();
    await waitFor(() => task.progress && task.progress.fraction > 0.001, 10_000, 'progress after resume');
    expect(task.state).toBe('running');
    task.cancel();
    await task.done;
  }, 30_000);
});

describe('pause and resume: bad requests', () => {
  it('only a running task can be paused and only a paused one resumed; the error says which state it is in', async () => {
    sup = new Supervisor({ prewarm: 0, concurrency: 1, stallAfterMs: Infinity });
    const first = sup.start({ command: 'sleep', args: ['30'] });
    const queued = sup.start({ command: 'sleep', args: ['30'] });
    await waitFor(() => first.state === 'running', 20_000, 'the first task to run');
    expect(() => queued.pause()).toThrow(/task \d+ is queued: only a running task can be paused/);
    expect(() => queued.resume()).toThrow(/task \d+ is queued, not paused: nothing to resume/);
    first.resume(); // running: nothing to do
    first.pause();
    first.pause(); // paused: nothing to do
    expect(first.state).toBe('paused');
    first.kill();
    expect((await first.done).state).toBe('killed');
    expect(() => first.pause()).toThrow(/is killed: only a running task can be paused/);
  }, 30_000);
});
