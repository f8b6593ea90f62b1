/**
 * Lineage marks: no task process survives its owner, including one spawned in the instant the
 * owner died and descendants that left the group (setsid, setpgid, orphaned); and a stop reaches
 * descendants no /proc sample saw. Survivors are found by their command line (a number unique to
 * each test) and by the mark in their environment, both read from /proc.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { readFileSync, readdirSync } from 'node:fs';
import { Supervisor } from '../../src/index.js';
import { LineageMark } from '../../src/process/lineage.js';
import { fixture, sleep, waitFor } from '../helpers.js';

/** A shell script whose process keeps moving (see the file). */
const walker = fileURLToPath(new URL('../fixtures/walker.sh', import.meta.url));

/** A sleep length no other process uses: 900000-999999 seconds. */
const uniqueTag = () => String(900_000 + Math.floor(Math.random() * 100_000));

/** Live processes whose command line has `tag` or whose environment has the mark `markName`. */
function survivors(tag: string, markName?: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (/^\d+ \(.*\) [ZX]/s.test(stat)) continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
      const environ = markName ? readFileSync(`/proc/${name}/environ`, 'latin1').split('\0') : [];
      if (cmdline.includes(tag) || environ.some((v) => v.startsWith(`${markName}=`))) found.push(Number(name));
    } catch {
      // gone
    }
  }
  return found;
}

async function noSurvivors(tag: string, markName: string | undefined, withinMs: number): Promise<number[]> {
  const t0 = Date.now();
  let left = survivors(tag, markName);
  while (left.length > 0 && Date.now() - t0 < withinMs) {
    await sleep(20);
    left = survivors(tag, markName);
  }
  return left;
}

function startOwner(file: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [fixture(file), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const exited = new Promise((r) => child.once('exit', r));
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  // The line itself: a message that merely contains the word ("already") is not it.
  const ready = waitFor(() => /^ready$/m.test(out), 30_000, `${file} to be ready`);
  return { child, exited, ready };
}

/** Kills a walker's processes until a scan finds none several times in a row. */
async function stopWalker(mark: LineageMark, value: string): Promise<void> {
  for (let quiet = 0; quiet < 20; await sleep(5)) {
    const { marked } = mark.findAttempt(value);
    quiet = marked.length === 0 ? quiet + 1 : 0;
    for (const { pid } of marked) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.shutdown();
  sup = undefined;
});

describe('lineage marks', () => {
  it('an owner SIGKILLed while it spawns a burst of 20 tasks leaves no process behind (10 rounds, 0-60 ms after the burst began)', async () => {
    for (let round = 0; round < 10; round++) {
      const tag = uniqueTag();
      const token = randomBytes(6).toString('hex');
      const owner = startOwner('owner-burst', [], { TAG: tag, LINEAGE_TOKEN: token });
      await owner.ready;
      await sleep(round * 6);
      owner.child.kill('SIGKILL');
      await owner.exited;
      // The promise is 1 s (measured by `npm run bench -- load`); a test on a busy machine allows more.
      expect(await noSurvivors(tag, `TASKWARDEN_OWNER_${token}`, 5000), `round ${round}`).toEqual([]);
    }
  }, 180_000);

  for (const how of ['wait', 'exit', 'throw'] as const) {
    it(`descendants outside the groups, never sampled, die with their owner (${how === 'wait' ? 'SIGKILLed' : how === 'exit' ? 'exits' : 'throws'})`, async () => {
      const tag = uniqueTag();
      const token = randomBytes(6).toString('hex');
      const owner = startOwner('owner-escapes', [how], { TAG: tag, LINEAGE_TOKEN: token });
      await owner.ready;
      // Before: escapees live outside every group (4 leaders + 4 escapees + the detached sleep 1000 of the module task).
      expect(survivors(tag).length).toBeGreaterThanOrEqual(6);
      owner.child.kill(how === 'wait' ? 'SIGKILL' : 'SIGUSR1');
      await owner.exited;
      expect(await noSurvivors(tag, `TASKWARDEN_OWNER_${token}`, 5000)).toEqual([]);
    }, 60_000);
  }

  it('a task whose leader exits leaves no orphaned escapee behind: the task ends only when it is gone', async () => {
    const tag = uniqueTag();
    sup = new Supervisor({ prewarm: 0, graceMs: 2000, sampleIntervalMs: 600_000 });
    // The escapee's parent (the middle shell) exits at once: no parent link leads to it.
    const task = sup.start({ command: 'sh', args: ['-c', `sh -c 'setsid sleep ${tag} &'; echo started`] });
    const outcome = await task.done;
    expect(outcome.state).toBe('completed');
    expect(survivors(tag)).toEqual([]);
  });

  it('a lineage that forks and exits while /proc is read is found by every scan', async () => {
    const mark = new LineageMark();
    const value = mark.value('walker', 1);
    const env = { ...process.env, [mark.name]: value };
    spawn('sh', [walker, uniqueTag(), '0.005'], { env, stdio: 'ignore', detached: true }).unref();
    let scans = 0;
    const missed: number[] = [];
    try {
      // At least 1.5 s and 50 scans (a busy machine makes each scan slower), at most 20 s.
      for (const t0 = Date.now(); (Date.now() - t0 < 1500 || scans < 50) && Date.now() - t0 < 20_000; scans++) {
        const { marked, unsettled } = mark.findAttempt(value);
        if (marked.length + unsettled.length === 0) missed.push(scans);
      }
    } finally {
      await stopWalker(mark, value);
    }
    expect(scans).toBeGreaterThanOrEqual(10);
    expect(missed, `scans that missed the walker, of ${scans}`).toEqual([]);
  }, 30_000);

  it('a descendant that keeps moving in a session of its own dies with a kill()', async () => {
    const tag = uniqueTag();
    sup = new Supervisor({ prewarm: 0, graceMs: 2000, sampleIntervalMs: 600_000 });
    const script = `setsid sh ${walker} ${tag} 0.005 & echo '{"progress": 0.1, "message": "walking"}'; while :; do sleep 0.05; done`;
    const task = sup.start({ command: 'sh', args: ['-c', script] });
    await waitFor(() => task.progress?.message === 'walking', 20_000, 'the walker to start');
    task.kill();
    expect((await task.done).state).toBe('killed');
    // One look can miss a process that moves (the walker's own race): it stays gone for a while.
    for (const t0 = Date.now(); Date.now() - t0 < 500; await sleep(10)) expect(survivors(tag)).toEqual([]);
  }, 30_000);

  it('an escapee forked from a SIGTERM handler during the grace period dies with the escalation', async () => {
    const tag = uniqueTag();
    // A grace long enough for the test to see the escapee before the escalation ends it (at once, with cgroups).
    sup = new Supervisor({ prewarm: 0, graceMs: 2000, sampleIntervalMs: 600_000 });
    // The escapee ignores SIGTERM: the stop sends it the SIGTERM the attempt already got as soon as
    // it finds it, and a plain sleep could die of that before the test sees it. The escalation's
    // SIGKILL is what must reach it.
    const escapee = `(trap "" TERM; exec setsid sleep ${tag}) &`;
    const script = `trap '${escapee}' TERM; echo '{"progress": 0.1, "message": "trap set"}'; while :; do sleep 0.05; done`;
    const task = sup.start({ command: 'sh', args: ['-c', script] });
    await waitFor(() => task.progress?.message === 'trap set', 20_000, 'the trap to be set');
    task.cancel();
    await waitFor(() => survivors(tag).length > 0, 5000, 'the handler to fork its escapee');
    const outcome = await task.done;
    expect(outcome).toMatchObject({ state: 'killed', escalated: true });
    expect(survivors(tag)).toEqual([]);
  });
});
