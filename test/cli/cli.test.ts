/**
 * The CLI end to end: the built bin (dist/src/cli/main.js) against a background
 * daemon it starts itself, in a temporary state directory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, waitFor } from '../helpers.js';
import { CLI, tempHome } from '../daemon/helpers.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let home: ReturnType<typeof tempHome>;

function start(args: string[]): { child: ChildProcess; result: Promise<Result>; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, '--home', home.home, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const result = new Promise<Result>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { child, result, stderr: () => stderr };
}

const tw = (...args: string[]) => start(args).result;

/** Starts `run --wait` and returns the id it prints once the task runs. */
async function waitingRun(args: string[]) {
  const run = start(['run', ...args, '--wait']);
  const id = await waitFor(() => /task (\d+) running/.exec(run.stderr())?.[1], 30_000, 'the task to run');
  return { ...run, id };
}

beforeAll(async () => {
  home = tempHome();
  const started = await tw('daemon', '--concurrency', '4', '--grace-ms', '1500');
  expect(started.code).toBe(0);
  expect(started.stderr).toMatch(/taskwarden daemon \(pid \d+\) serves/);
});

afterAll(async () => {
  await tw('shutdown');
  home?.cleanup();
});

describe('taskwarden CLI', { timeout: 60_000 }, () => {
  it("run --priority sets the task's CPU priority through the daemon; a bad level is exit 2", async () => {
    // nice, and the cpu.shares of the process's v1 cpu cgroup (1024 where it is the root's)
    const script =
      'c=$(grep -E "^[0-9]+:([^:]*,)?cpu(,[^:]*)?:" /proc/self/cgroup | cut -d: -f3); echo $(cut -d" " -f19 /proc/self/stat) $(cat /sys/fs/cgroup/cpu$c/cpu.shares 2>/dev/null || echo none)';
    const low = await tw('run', '--priority', 'low', '--wait', '--', 'sh', '-c', script);
    expect(low.code).toBe(0);
    const [nice, shares] = low.stdout.trim().split('\n').at(-1)!.split(' ');
    const backend = JSON.parse((await tw('doctor', '--json')).stdout).containment.backend;
    // 'low': the CPU weight of nice 10 on the task's cgroup, or nice 10 itself without one.
    if (backend === 'cgroup') expect({ nice, shares }).toEqual({ nice: '0', shares: '110' });
    else expect(nice).toBe('10');
    const bad = await tw('run', '--priority', 'high', '--', 'true');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--priority must be idle, low, normal, got "high"/);
  });

  it('run --reuse: the next run of the module takes the same runner; --reuse with a command, or with --isolate, is exit 2', async () => {
    const runs = [];
    for (let k = 0; k < 2; k++)
      runs.push(await tw('run', fixture('reuse-probe'), '--input', '{"mode":"ok"}', '--reuse', '--wait'));
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    const [a, b] = runs.map((r) => JSON.parse(r.stdout.trim()) as { pid: number; served: number });
    expect(b.pid).toBe(a.pid);
    expect(b.served).toBe(a.served + 1);
    const command = await tw('run', '--reuse', '--', 'true');
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/--reuse and --isolate go with a module/);
    const both = await tw('run', fixture('reuse-probe'), '--reuse', '3', '--isolate');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--reuse and --isolate contradict each other/);
    const bad = await tw('run', fixture('reuse-probe'), '--reuse', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--reuse takes the most tasks one runner may serve, an integer >= 1/);
  });

  it('daemon: a second start reports the running one', async () => {
    const again = await tw('daemon');
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already serves/);
  });

  it('run --wait exits 0 when the task completes and prints its result', async () => {
    const r = await tw('run', fixture('echo'), '--input', '{"n":3}', '--wait');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ input: { n: 3 }, attempt: 1 });
    expect(r.stderr).toMatch(/task \d+ completed/);
  });

  it('run --wait exits 1 when the task fails, with its error on stderr', async () => {
    const [mod, cmd] = await Promise.all([
      tw('run', fixture('throws'), '--wait'),
      tw('run', '--wait', '--', 'sh', '-c', 'echo to-stdout; exit 4'),
    ]);
    expect(mod.code).toBe(1);
    expect(mod.stderr).toMatch(/task \d+ failed: /);
    expect(cmd.code).toBe(1);
    expect(cmd.stdout).toBe('to-stdout\n');
    expect(cmd.stderr).toMatch(/exit code 4/);
  });

  it('run --wait: Ctrl+C cancels the task, exit 130', async () => {
    const run = await waitingRun([fixture('cooperative')]);
    run.child.kill('SIGINT');
    const r = await run.result;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(new RegExp(`cancelling task ${run.id}`));
  });

  it('run --wait exits 137 when the task is killed; ls --json lists it while it runs', async () => {
    const run = await waitingRun([fixture('ignores-cancel'), '--name', 'stubborn']);
    const ls = await tw('ls', '--json');
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: run.id, name: 'stubborn', state: 'running' })]),
    );
    const kill = await tw('kill', run.id);
    expect(kill.code).toBe(0);
    expect((await run.result).code).toBe(137);
    const show = await tw('show', run.id, '--json');
    expect(JSON.parse(show.stdout).task.state).toBe('killed');
  });

  it('run without --wait prints the id; logs, history and cancel work on it', async () => {
    const r = await tw('run', '--', 'sh', '-c', 'echo hello; sleep 30');
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^\d+$/);
    await waitFor(async () => (await tw('logs', id)).stdout.includes('hello'), 10_000, 'the log line');
    const cancel = await tw('cancel', id);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toMatch(new RegExp(`task ${id}: cancelling`));
    await waitFor(
      async () =>
        JSON.parse((await tw('history', '--json', '--limit', '3')).stdout).some((t: { id: string }) => t.id === id),
      10_000,
      'history',
    );
  });

  it('logs -f follows a running task to its end', async () => {
    const id = (
      await tw('run', '--', 'sh', '-c', 'echo first; sleep 0.5; echo second >&2; sleep 0.3; echo third')
    ).stdout.trim();
    const follow = await tw('logs', id, '-f');
    expect(follow.code).toBe(0);
    expect(follow.stdout).toBe('first\nsecond\nthird\n');
  });

  it('unknown ids and bad arguments: one line on stderr, exit 2', async () => {
    const cases = await Promise.all([
      tw('cancel', '999'),
      tw('show', '999'),
      tw('kill', 'no such id!'),
      tw('run', fixture('echo'), '--input', '{bad'),
      tw('run', 'no-such-module.mjs'),
      tw('history', '--limit', '0'),
      tw('cancel'),
      tw('frobnicate'),
    ]);
    for (const r of cases) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().length).toBeGreaterThan(0);
    }
    expect(cases[0].stderr).toBe('taskwarden: no task 999: "taskwarden ls --all" lists the known tasks\n');
    expect(cases[3].stderr).toMatch(/--input is not valid JSON/);
  });

  it('--help on every command', async () => {
    const [top, run] = await Promise.all([tw('--help'), tw('run', '--help')]);
    for (const r of [top, run]) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: taskwarden/);
    }
    // The rest in-process: same program, without a node start per command.
    const { buildProgram } = await import('../../src/cli/main.js');
    const program = await buildProgram([]);
    const names = program.commands.map((c) => c.name());
    expect(names).toEqual(
      expect.arrayContaining([
        'run',
        'ls',
        'show',
        'logs',
        'cancel',
        'kill',
        'restart',
        'stop-all',
        'shutdown',
        'history',
        'daemon',
        'doctor',
      ]),
    );
    for (const command of program.commands)
      expect(command.helpInformation()).toMatch(new RegExp(`^Usage: taskwarden ${command.name()}`));
  });

  it('stop-all, then shutdown stops the daemon and removes its socket', async () => {
    await tw('run', fixture('silent'));
    const stop = await tw('stop-all', '--json');
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toMatchObject({ cancelled: expect.any(Number), killed: expect.any(Number) });
    const down = await tw('shutdown');
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/daemon \(pid \d+\) stopped/);
    expect(existsSync(join(home.home, 'daemon.sock'))).toBe(false);
    const again = await tw('shutdown');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/no taskwarden daemon serves/);
  });
});
