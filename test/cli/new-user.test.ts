/**
 * What a new user trips over, end to end: the built CLI, a real
 * daemon, and task modules and programs in a directory of their own outside the package, as
 * the README shows them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonClient, DaemonError } from '../../src/daemon/client.js';
import { waitFor } from '../helpers.js';
import { CLI, spawnDaemon, tempHome } from '../daemon/helpers.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A directory outside the package (no node_modules above it), like ~/analysis. */
let work: string;
const homes: Array<ReturnType<typeof tempHome>> = [];
/** State directories whose daemon (if any) afterAll shuts down. */
const stateDirs: string[] = [];

function tw(home: string, ...args: string[]): Promise<Result> {
  const child = spawn(process.execPath, [CLI, '--home', home, ...args], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

function newHome(): string {
  const home = tempHome();
  homes.push(home);
  stateDirs.push(home.home);
  return home.home;
}

function write(relative: string, text: string, mode = 0o644): string {
  const path = join(work, relative);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

/** The README's task module, word for word where it can be. */
const README_TASK = `import { defineTask } from 'taskwarden/task';   // the light entry; 'taskwarden' works too

export default defineTask(async (input, ctx) => {
  ctx.onCleanup(async () => { /* runs on graceful cancel, bounded by the grace period */ });
  for (let tile = 1; tile <= input.tiles; tile++) {
    if (ctx.signal.aborted) throw ctx.signal.reason;  // or pass ctx.signal to anything that takes one
    await new Promise((resolve) => setTimeout(resolve, 2));
    ctx.progress(tile / input.tiles, \`tile \${tile}/\${input.tiles}\`);
  }
  return { tiles: input.tiles, map: new Map([['a', 1]]), when: new Date(), since: input.since };
});
`;

let home: string;

beforeAll(async () => {
  work = mkdtempSync('/tmp/twu-');
  home = newHome();
  const started = await tw(home, 'daemon', '--concurrency', '4', '--grace-ms', '1500');
  expect(started.code, started.stderr).toBe(0);
}, 120_000);

// Generous: each shutdown is a CLI process of its own, and a busy machine takes seconds to start one.
afterAll(async () => {
  await Promise.all(stateDirs.map((dir) => tw(dir, 'shutdown')));
  for (const h of homes) h.cleanup();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('a new user, outside the package', { timeout: 90_000 }, () => {
  it("the README's task module runs from a directory of its own ('taskwarden/task' and 'taskwarden')", async () => {
    write('analysis/tasks/tiles.mjs', README_TASK);
    write('analysis/tasks/main-entry.mjs', README_TASK.replace("from 'taskwarden/task'", "from 'taskwarden'"));
    expect(existsSync(join(work, 'node_modules'))).toBe(false);
    const [light, main] = await Promise.all([
      tw(home, 'run', 'analysis/tasks/tiles.mjs', '--input', '{"tiles":3}', '--wait'),
      tw(home, 'run', 'analysis/tasks/main-entry.mjs', '--input', '{"tiles":2}', '--wait'),
    ]);
    expect(light.code, light.stderr).toBe(0);
    expect(JSON.parse(light.stdout)).toMatchObject({ tiles: 3 });
    expect(main.code, main.stderr).toBe(0);
    expect(JSON.parse(main.stdout)).toMatchObject({ tiles: 2 });
  });

  it('a missing import is reported as what it is, not as a missing task module', async () => {
    const module = write(
      'analysis/tasks/needs-lodash.mjs',
      "import lodash from 'lodash-not-installed-xyz';\nexport default async () => lodash;\n",
    );
    const helperUser = write(
      'analysis/tasks/needs-helper.mjs',
      "import { helper } from './helpers.mjs';\nexport default async () => helper();\n",
    );
    const [pkg, file] = await Promise.all([tw(home, 'run', module, '--wait'), tw(home, 'run', helperUser, '--wait')]);
    expect(pkg.code).toBe(1);
    const dir = join(work, 'analysis/tasks');
    expect(pkg.stderr).toContain(
      `the task module ${module} imports 'lodash-not-installed-xyz', which cannot be found from ${dir}: install lodash-not-installed-xyz there`,
    );
    expect(pkg.stderr).not.toMatch(/cannot find task module/);
    expect(file.code).toBe(1);
    expect(file.stderr).toContain(
      `the task module ${helperUser} imports ${join(dir, 'helpers.mjs')}, which does not exist`,
    );
    const id = /task (\d+) failed/.exec(pkg.stderr)![1];
    expect(JSON.parse((await tw(home, 'show', id, '--json')).stdout).task.outcome.error.code).toBe('IMPORT_NOT_FOUND');
    // CommonJS: require() does not get the runner's taskwarden (only import does); it says so.
    const cjs = write(
      'analysis/tasks/tiles.cjs',
      "const { defineTask } = require('taskwarden/task');\nmodule.exports = defineTask(async () => 1);\n",
    );
    const r = await tw(home, 'run', cjs, '--wait');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `the task module ${cjs} requires 'taskwarden/task', which cannot be found from ${dir}: install taskwarden there (npm install taskwarden), or write the task module as an ES module`,
    );
  });

  it('Maps and Dates survive the daemon and the CLI prints them tagged; --input takes tagged values', async () => {
    write('analysis/tasks/tiles.mjs', README_TASK);
    const before = Date.now();
    const r = await tw(
      home,
      'run',
      'analysis/tasks/tiles.mjs',
      '--input',
      '{"tiles":1,"since":{"$tw":"Date","v":"2026-01-01T00:00:00.000Z"}}',
      '--wait',
    );
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.map).toEqual({ $tw: 'Map', v: [['a', 1]] });
    expect(result.when.$tw).toBe('Date');
    const when = Date.parse(result.when.v);
    expect(when).toBeGreaterThanOrEqual(before - 1000);
    expect(when).toBeLessThanOrEqual(Date.now() + 1000);
    expect(result.since).toEqual({ $tw: 'Date', v: '2026-01-01T00:00:00.000Z' }); // the task got a Date and returned it
    const id = /task (\d+) completed/.exec(r.stderr)![1];
    const show = await tw(home, 'show', id, '--json');
    expect(JSON.parse(show.stdout).task.outcome.result).toEqual(result);
    const text = await tw(home, 'show', id);
    expect(text.stdout).toContain('result: {"tiles":1,"map":{"$tw":"Map","v":[["a",1]]}');
    const bad = await tw(home, 'run', 'analysis/tasks/tiles.mjs', '--input', '{"since":{"$tw":"Date","v":"soon"}}');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('taskwarden: run: --input.since.v: not a date: "soon"\n');
  });

  it('a program that cannot run is refused at submission, each case with its own reason, exit 2', async () => {
    const shebang = '#!/usr/bin/env python3\nprint("hi")\n';
    write('job.py', shebang, 0o644);
    mkdirSync(join(work, 'jobdir'), { recursive: true });
    write('noshebang.py', 'print("hi")\n', 0o755);
    write('badinterp.sh', '#!/usr/bin/no-such-shell-xyz\necho hi\n', 0o755);
    write('envmissing.sh', '#!/usr/bin/env no-such-interpreter-xyz\necho hi\n', 0o755);
    write('empty.sh', '', 0o755);
    const cases: Array<[string, string]> = [
      [
        './job.py',
        './job.py is not executable (mode 644): make it executable with "chmod +x ./job.py", or name its interpreter: taskwarden run -- python3 ./job.py',
      ],
      ['./jobdir', './jobdir is a directory, not a program'],
      [
        './noshebang.py',
        './noshebang.py has no interpreter line: its first line should name the program that runs it, e.g. "#!/usr/bin/env python3", or name the interpreter here: taskwarden run -- python3 ./noshebang.py',
      ],
      [
        './badinterp.sh',
        'the interpreter line of ./badinterp.sh names /usr/bin/no-such-shell-xyz, which does not exist',
      ],
      [
        './envmissing.sh',
        'the interpreter line of ./envmissing.sh runs no-such-interpreter-xyz through /usr/bin/env, and no-such-interpreter-xyz is not in PATH',
      ],
      ['./empty.sh', './empty.sh is empty, so there is no program to run'],
      ['./missing.sh', `./missing.sh: no such file (${join(work, 'missing.sh')})`],
    ];
    const results = await Promise.all(cases.map(([program]) => tw(home, 'run', '--wait', '--', program)));
    results.forEach((r, k) => {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toBe(`taskwarden: run: ${cases[k][1]}\n`);
    });
    // A runnable script still runs.
    write('ok.sh', '#!/bin/sh\necho fine\n', 0o755);
    const ok = await tw(home, 'run', '--wait', '--', './ok.sh');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('fine\n');
  });

  it('the daemon refuses such a program from any client (BAD_MESSAGE, which the CLI maps to exit 2)', async () => {
    const client = await DaemonClient.connect({ home, autostart: false, clientName: 'new-user-test' });
    try {
      const job = write('job2.py', '#!/usr/bin/env python3\n', 0o644);
      const error = await client.request('TASK_REQUEST', { spec: { command: job } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DaemonError);
      expect(error).toMatchObject({ code: 'BAD_MESSAGE' });
      expect((error as Error).message).toBe(
        `TASK_REQUEST.spec.command: ${job} is not executable (mode 644): make it executable with "chmod +x ${job}", or name its interpreter: taskwarden run -- python3 ${job}`,
      );
    } finally {
      client.close();
    }
  });

  it("show of a failed task gives the error's name, message and stack, and no runner exit code", async () => {
    const module = write(
      'analysis/tasks/throws.mjs',
      "import { defineTask } from 'taskwarden/task';\nexport default defineTask(async () => {\n  await new Promise((r) => setTimeout(r, 5));\n  throw new RangeError('tile 7 is out of range');\n});\n",
    );
    const r = await tw(home, 'run', module, '--wait');
    expect(r.code).toBe(1);
    const id = /task (\d+) failed/.exec(r.stderr)![1];
    expect(r.stderr).toContain(
      `task ${id} failed: RangeError: tile 7 is out of range ("taskwarden show ${id}" has its stack)`,
    );
    const show = await tw(home, 'show', id);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^ {2}outcome: failed after (\d+ ms|\d\.\d\d s)$/m);
    expect(show.stdout).not.toMatch(/exit code 0/);
    expect(show.stdout).toContain('  error: RangeError: tile 7 is out of range\n');
    expect(show.stdout).toMatch(new RegExp(`^ {4}at .*${module.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+`, 'm'));
    // A command's exit code is still shown.
    const cmd = await tw(home, 'run', '--wait', '--', 'sh', '-c', 'exit 3');
    const cmdId = /task (\d+) failed/.exec(cmd.stderr)![1];
    expect((await tw(home, 'show', cmdId)).stdout).toMatch(/outcome: failed after .*, exit code 3/);
  });
});

describe('read-only commands and the daemon', { timeout: 90_000 }, () => {
  it('history, show, ls and logs start no daemon: without one they read the journal; commands that start one say so', async () => {
    const fresh = join(newHome(), 'state');
    stateDirs.push(fresh);
    const empty = await tw(fresh, 'history');
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toBe('no finished tasks yet\n');
    expect(existsSync(fresh)).toBe(false); // not even the state directory is created

    const run = await tw(fresh, 'run', '--wait', '--', 'sh', '-c', 'echo from-the-task');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      new RegExp(
        `^taskwarden: started a daemon \\(pid \\d+\\) for ${fresh}; it keeps running for its tasks \\("taskwarden shutdown" stops it\\)$`,
        'm',
      ),
    );
    const id = /task (\d+) completed/.exec(run.stderr)![1];
    expect((await tw(fresh, 'shutdown')).code).toBe(0);
    expect(existsSync(join(fresh, 'daemon.sock'))).toBe(false);

    const [history, show, ls, logs] = await Promise.all([
      tw(fresh, 'history', '--json'),
      tw(fresh, 'show', id),
      tw(fresh, 'ls', '--all'),
      tw(fresh, 'logs', id),
    ]);
    for (const r of [history, show, ls, logs]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
    }
    expect(JSON.parse(history.stdout).map((t: { id: string }) => t.id)).toEqual([id]);
    expect(show.stdout).toMatch(new RegExp(`^task ${id} \\(.*\\): completed`));
    expect(ls.stdout).toMatch(new RegExp(`^${id} +completed`, 'm'));
    expect(logs.stdout).toBe('from-the-task\n');
    expect(existsSync(join(fresh, 'daemon.sock'))).toBe(false);
    const unknown = await tw(fresh, 'show', '999');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('taskwarden: no task 999: "taskwarden ls --all" lists the known tasks\n');
    expect(existsSync(join(fresh, 'daemon.sock'))).toBe(false);
  });

  it('an interrupted task says how to run it again: taskwarden restart <id>', async () => {
    const crashed = newHome();
    const daemon = await spawnDaemon(crashed);
    const started = await tw(crashed, 'run', '--', 'sleep', '60');
    const id = started.stdout.trim();
    await waitFor(
      async () => JSON.parse((await tw(crashed, 'show', id, '--json')).stdout).task.state === 'running',
      30_000,
      'the task to run',
    );
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    // No daemon: the journal still has it running, and show says what that means.
    const before = await tw(crashed, 'show', id);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(new RegExp(`^task ${id} .*: running`));
    expect(before.stderr).toMatch(
      new RegExp(
        `no daemon runs for ${crashed}: .*task ${id} was still active when its daemon stopped, and the next daemon marks it interrupted`,
      ),
    );
    // show started no daemon (the dead one's socket is still there, and nothing answers on it)
    await expect(DaemonClient.connect({ home: crashed, autostart: false })).rejects.toMatchObject({
      code: 'NO_DAEMON',
    });
    // The next daemon's recovery marks it interrupted and says how to run it again.
    expect((await tw(crashed, 'daemon')).code).toBe(0);
    const after = await tw(crashed, 'show', id);
    expect(after.stdout).toMatch(new RegExp(`^task ${id} .*: interrupted`));
    expect(after.stdout).toContain(`run it again with "taskwarden restart ${id}"`);
    expect(after.stdout).not.toContain('taskwarden run"');
    const restart = await tw(crashed, 'restart', id);
    expect(restart.code, restart.stderr).toBe(0);
    expect(restart.stdout).toBe(`task ${id}: restarting (attempt 2)\n`);
  });
});
