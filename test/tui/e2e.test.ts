/**
 * End to end, in a real pseudo-terminal: the built `taskwarden` UI, its autostarted daemon and
 * real task processes. Needs `npm run build` first (npm test does it). Generous time bounds: the
 * machine is small and shared.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/daemon/client.js';
import { processes } from '../helpers.js';
import { cliPath, PtyUi, repoRoot, type PtyOptions } from './pty.js';

/** A task module that takes 1.5 s to load (its process stays 'starting' that long), then steps every 20 ms. */
const SLOW_BOOT = `
import { defineTask } from ${JSON.stringify(new URL('dist/src/task.js', `file://${repoRoot}`).href)};
await new Promise((resolve) => setTimeout(resolve, 1500));
export default defineTask(async (input, ctx) => {
  for (let i = 1; i <= 4000; i++) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    await new Promise((resolve) => setTimeout(resolve, 20));
    ctx.progress(i / 4000, \`step \${i}/4000\`);
  }
});
`;

/** A task module that throws: its runner reports the error and then exits normally (code 0). */
const THROWS = `
import { defineTask } from ${JSON.stringify(new URL('dist/src/task.js', `file://${repoRoot}`).href)};
export default defineTask(async () => {
  throw new Error('the plate has no alpha channel');
});
`;

const config = {
  templates: [
    { name: 'steady', module: 'builtin:steady', input: { steps: 4000, stepMs: 50 } },
    { name: 'sync loop', module: 'builtin:sync-loop', graceMs: 1500 },
    { name: 'deaf to SIGTERM', module: 'builtin:ignores-sigterm', graceMs: 1000 },
    { name: 'shell', command: ['/bin/sh', '-c', 'while true; do echo tick; sleep 0.2; done'] },
    { name: 'slow boot', module: './slow-boot.mjs' },
    {
      name: 'fails',
      command: [
        '/bin/sh',
        '-c',
        'echo reading the plate; echo "plate p1.tif: no such file; check the path in the template input and try again" >&2; exit 3',
      ],
    },
    { name: 'module that throws', module: './throws.mjs' },
  ],
};

const uis: PtyUi[] = [];

async function open(options: PtyOptions = {}): Promise<PtyUi> {
  const ui = new PtyUi({ config, ...options });
  uis.push(ui);
  await ui.waitFor(/Started the daemon|Connected to the daemon/, 30_000, 'the UI to connect');
  return ui;
}

/** Shuts down the daemon of `home` if one runs (tests that detach leave it running). */
async function shutdownDaemon(home: string): Promise<void> {
  let client: DaemonClient;
  try {
    client = await DaemonClient.connect({ home, autostart: false, clientName: 'tui-test' });
  } catch {
    return;
  }
  try {
    await client.request('SHUTDOWN');
  } catch {
    // it is going away
  } finally {
    client.close();
  }
}

/** Live processes whose command line mentions `dir` (task runners, the daemon: all started for this test's home). */
function ours(dir: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const p of processes()) {
    if (p.state === 'Z' || p.state === 'X') continue;
    try {
      const cmd = readFileSync(`/proc/${p.pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
      const env = readFileSync(`/proc/${p.pid}/environ`, 'latin1');
      if (cmd.includes(dir) || env.includes(dir)) out.push({ pid: p.pid, cmd });
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/** The picture is whole: header on the first line, footer on the last line of the frame, nothing stale or doubled. */
async function expectCoherent(ui: PtyUi): Promise<void> {
  // let the frame that follows a fast paint land
  await new Promise((r) => setTimeout(r, 300));
  const lines = await ui.screen();
  const rows = ui.term.rows;
  expect(lines[0]).toMatch(/^ taskwarden +● daemon pid \d+/);
  expect(lines[1]).toMatch(/^ \d+ tasks?:|^ no tasks/);
  expect(lines[2]).toMatch(/^ID +NAME +STATE/);
  expect(lines[rows - 2]).toContain('k cancel  K kill');
  expect(lines[rows - 1].trim()).toBe('');
  expect(lines.filter((l) => l.includes(' taskwarden '))).toHaveLength(1);
  expect(lines.filter((l) => l.includes('k cancel  K kill'))).toHaveLength(1);
  const ids = lines
    .slice(3, rows - 3)
    .map((l) => /^(\d+) /.exec(l)?.[1])
    .filter(Boolean);
  expect(new Set(ids).size).toBe(ids.length);
}

afterEach(async () => {
  for (const ui of uis.splice(0)) {
    await ui.dispose(true);
    await shutdownDaemon(ui.home);
    const { rmSync } = await import('node:fs');
    rmSync(ui.dir, { recursive: true, force: true });
  }
});

describe('terminal UI in a pseudo-terminal', () => {
  it('is built', () => {
    expect(existsSync(cliPath), 'run npm run build first').toBe(true);
  });

  it('1 starts a task whose progress advances; k shows cancelling, then cancelled', async () => {
    const ui = await open();
    ui.write('1');
    await ui.waitForRow('1', 'running');
    const first = await ui.waitForRow('1', /step \d+\/4000/);
    const step = Number(/step (\d+)\/4000/.exec(first)![1]);
    await ui.waitForRow('1', (() => new RegExp(`step (?!${step}/)\\d+/4000`))());
    const beforeK = ui.mark();
    ui.write('k');
    await ui.waitForRowOutput(beforeK, '1', 'cancelling', 5000);
    await ui.waitForRow('1', '■ cancelled');
    await ui.waitFor(/Task 1 cancelled after \d/);
    await expectCoherent(ui);
  }, 90_000);

  it('K on the task stuck in a synchronous loop shows killed', async () => {
    const ui = await open();
    ui.write('2');
    await ui.waitForRow('1', 'running');
    await ui.waitForRow('1', 'only K stops me');
    const beforeK = ui.mark();
    ui.write('K');
    await ui.waitForRowOutput(beforeK, '1', 'killing', 5000);
    await ui.waitForRow('1', '☠ killed');
    await ui.waitFor(/Task 1 killed \(SIGKILL\) after \d+ ms/);
    await expectCoherent(ui);
  }, 90_000);

  it('p pauses the selected task (its progress stops) and p again resumes it', async () => {
    const ui = await open();
    ui.write('1');
    await ui.waitForRow('1', /step \d+\/4000/);
    ui.write('p');
    await ui.waitForRow('1', 'paused');
    await ui.waitFor(/Task 1 paused: p resumes it/);
    const frozen = /step (\d+)\/4000/.exec(await ui.waitForRow('1', 'paused'))![1];
    ui.write('p');
    await ui.waitForRow('1', 'running');
    await ui.waitForRow('1', new RegExp(`step (?!${frozen}/)\\d+/4000`));
    ui.write('K');
    await ui.waitForRow('1', '☠ killed');
    await expectCoherent(ui);
  }, 90_000);

  it('l shows the selected task’s log', async () => {
    const ui = await open();
    ui.write('4');
    await ui.waitForRow('1', 'running');
    ui.write('l');
    await ui.waitFor(/log · task 1 shell/);
    await ui.waitFor((s) => (s.match(/^ tick$/gm) ?? []).length >= 2, 20_000, 'log lines in the pane');
    ui.write('l');
    await ui.waitFor((s) => !s.includes('log · task 1'));
  }, 90_000);

  it('a key pressed the moment the screen appears, while the daemon is still starting, is carried out', async () => {
    const ui = new PtyUi({ config });
    uis.push(ui);
    // the very first frame: the daemon is not up yet (this UI starts it)
    await ui.waitForOutput(0, /daemon (connecting|starting)…/, 30_000);
    ui.write('1');
    await ui.waitFor(/Started task 1: steady/, 30_000);
    await ui.waitForRow('1', /running/, 30_000);
    await expectCoherent(ui);
  }, 90_000);

  it('q the moment the screen appears, while the UI is starting the daemon, shuts that daemon down', async () => {
    const ui = new PtyUi({ config, cols: 80, rows: 24 });
    uis.push(ui);
    // no daemon runs for this home: the UI finds none and starts one, and says so at once
    await ui.waitForOutput(0, /daemon starting…/, 30_000);
    ui.write('q');
    const exit = await Promise.race([ui.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(exit).not.toBe('timeout');
    expect((exit as { exitCode: number }).exitCode).toBe(0);
    // whether q came while the daemon was starting (the UI waited for it) or just after it was up (nothing ran)
    expect(stripVTControlCharacters(ui.raw)).toContain('bye; the daemon it started is shut down');
    const deadline = Date.now() + 10_000;
    while (ours(ui.dir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(ours(ui.dir)).toEqual([]);
  }, 90_000);

  it('Enter shows a failed task in full at 80×24: error, exit code, the attempt and its pid, the log tail', async () => {
    const ui = await open({ cols: 80, rows: 24 });
    ui.write('6');
    await ui.waitForRow('1', '✘ failed');
    ui.write('\r');
    await ui.waitFor(/Attempts/);
    const screen = await ui.waitFor(/^ +1 +✘ failed +\d+ /m, 20_000, 'the attempt with its pid');
    expect(screen).toContain('exit code 3');
    const lines = await ui.screen();
    expect(lines).toHaveLength(24);
    expect(lines[0]).toMatch(/^ taskwarden +● daemon pid \d+/);
    expect(lines[22]).toContain('Esc close');
    ui.write('\x1b[F'); // End: the log tail
    // wrapped to the width: a long line continues, indented, on the next
    await ui.waitFor(
      (s) =>
        s
          .replace(/\n +/g, ' ')
          .includes('! plate p1.tif: no such file; check the path in the template input and try again'),
      20_000,
      'the whole stderr line',
    );
    ui.write('\x1b');
    await ui.waitFor(/^ID +NAME +STATE/m);
    await expectCoherent(ui);
  }, 90_000);

  it('Enter on a module task that threw shows its error, not a bare "exit code 0" beside "failed"', async () => {
    const ui = await open({ cols: 80, rows: 24 });
    writeFileSync(path.join(ui.dir, 'throws.mjs'), THROWS);
    ui.write('7');
    await ui.waitForRow('1', '✘ failed');
    ui.write('\r');
    const screen = await ui.waitFor(/the plate has no alpha channel/, 20_000, 'the error');
    expect(screen).toMatch(/Exit +code 0: the process exited normally after reporting the error/);
    expect(screen).not.toContain('exit code 0');
    // The attempts come after the stack, which is longer where the build's path is (a CI cache dir, a
    // newer Node's extra frame): page down to them. The details arrive after the page opens, and a
    // key pressed before they did had nothing to scroll: again, as a person would, until they show.
    let pagedAt = 0;
    await ui.waitFor(
      (text) => {
        if (/^ +1 +✘ failed +\d+ /m.test(text)) return true;
        if (Date.now() - pagedAt > 500) {
          pagedAt = Date.now();
          ui.write('\u001b[6~');
        }
        return false;
      },
      20_000,
      'the attempt with its pid',
    );
  }, 90_000);

  it('after r, the new attempt shows none of the previous attempt’s progress or time while it starts', async () => {
    const ui = await open();
    writeFileSync(path.join(ui.dir, 'slow-boot.mjs'), SLOW_BOOT);
    ui.write('5');
    await ui.waitForRow('1', /step [3-9]\d{2,}\/4000/, 60_000); // it has run 6 s or more: the bar shows it
    const since = ui.mark();
    ui.write('r');
    // attempt 2 loads for 1.5 s: its 'starting' frames are drawn
    await ui.waitForRowOutput(since, '1', '◔ starting', 20_000);
    await ui.waitFor(/Task 1 restarted: attempt 2 running/, 30_000);
    const rows = stripVTControlCharacters(ui.raw.slice(since))
      .split(/\r?\n/)
      .filter((l) => l.startsWith('1 ') && l.includes('◔ starting'));
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row).not.toMatch(/[█▏▎▍▌▋▊▉]|step \d/); // no bar, no progress message of attempt 1
      // ELAPSED counts attempt 2 (its 1.5 s start-up, longer on a busy machine), not attempt 1's 6 s and more
      const elapsed = /(\d+):(\d\d) /.exec(row);
      if (elapsed) expect(Number(elapsed[1]) * 60 + Number(elapsed[2]), row).toBeLessThan(6);
    }
  }, 120_000);

  it('follows a terminal resize', async () => {
    const ui = await open();
    ui.write('1');
    await ui.waitForRow('1', 'running');
    ui.proc.resize(100, 20);
    ui.term.resize(100, 20);
    await ui.waitFor(
      (s) => s.split('\n')[18]?.includes('k cancel') ?? false,
      10_000,
      'the footer on the new last line',
    );
    await expectCoherent(ui);
    ui.proc.resize(150, 36);
    ui.term.resize(150, 36);
    await ui.waitFor(
      (s) => s.split('\n')[34]?.includes('k cancel') ?? false,
      10_000,
      'the footer on the new last line',
    );
    await expectCoherent(ui);
  }, 90_000);

  it('k on a task that ignores SIGTERM escalates after the grace period', async () => {
    const ui = await open();
    ui.write('3');
    await ui.waitForRow('1', 'ignoring cancellation');
    const beforeK = ui.mark();
    ui.write('k');
    await ui.waitForRowOutput(beforeK, '1', 'cancelling', 5000);
    await ui.waitForRow('1', '☠ killed');
    await ui.waitFor(/Task 1 killed \(SIGKILL\) after .* grace period/);
  }, 90_000);

  it('r restarts the selected task: attempt 2 running', async () => {
    const ui = await open();
    ui.write('1');
    await ui.waitForRow('1', /step \d+/);
    ui.write('r');
    await ui.waitFor(/Task 1 restarted: attempt 2 running/);
    expect(await ui.row('1')).toMatch(/running.* 2$/);
  }, 90_000);

  it('s stops everything', async () => {
    const ui = await open();
    for (const key of ['1', '2', '3', '4']) {
      ui.write(key);
      await ui.waitFor(new RegExp(`Started task \\d+: `));
      await ui.waitFor((s) => !s.includes('Starting template'));
    }
    await ui.waitFor(/4 tasks:/);
    const since = ui.mark();
    ui.write('s');
    // The optimistic frame may be replaced within milliseconds (queued tasks never start): read the output stream.
    await ui.waitForOutput(since, /Emergency stop — terminating 4 tasks…/, 5000);
    await ui.waitFor(/Stopped 4 tasks in (\d+ ms|\d+\.\d\d s|\d+ s) \(\d cancelled, \d killed/, 30_000);
    const screen = await ui.text();
    expect(screen).not.toMatch(/running|cancelling…|killing…/);
  }, 120_000);

  it('q then s stops every task, quits, and leaves no process of ours', async () => {
    const ui = await open();
    ui.write('1');
    await ui.waitForRow('1', 'running');
    ui.write('2');
    await ui.waitForRow('2', 'running');
    ui.write('4');
    await ui.waitForRow('3', /running|queued/); // the daemon runs as many tasks at once as there are CPUs
    expect(ours(ui.dir).length).toBeGreaterThanOrEqual(3); // the daemon and the running tasks (and more)
    ui.write('q');
    await ui.waitFor('[s] stop them and quit');
    ui.write('s');
    const exit = await Promise.race([ui.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(exit).not.toBe('timeout');
    expect((exit as { exitCode: number }).exitCode).toBe(0);
    expect(ui.raw).toContain('stopped every task; the daemon it started is shut down');
    const deadline = Date.now() + 10_000;
    while (ours(ui.dir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(ours(ui.dir)).toEqual([]);
  }, 120_000);

  it('q then d detaches: the tasks keep running in the daemon', async () => {
    const ui = await open();
    ui.write('1');
    await ui.waitForRow('1', 'running');
    ui.write('q');
    await ui.waitFor('[d] detach');
    ui.write('d');
    await ui.exited;
    expect(ui.raw).toContain('detached; 1 task still running in the daemon');
    const client = await DaemonClient.connect({ home: ui.home, autostart: false });
    const { tasks } = await client.request('LIST');
    client.close();
    expect(tasks.map((t) => t.state)).toEqual(['running']);
  }, 90_000);

  it('a closed terminal (SIGHUP) detaches: the tasks keep running', async () => {
    const ui = await open();
    ui.write('1');
    await ui.waitForRow('1', 'running');
    ui.proc.kill('SIGHUP');
    const exit = await Promise.race([ui.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    expect(exit).not.toBe('timeout');
    const client = await DaemonClient.connect({ home: ui.home, autostart: false });
    const { tasks } = await client.request('LIST');
    client.close();
    expect(tasks.map((t) => t.state)).toEqual(['running']);
  }, 90_000);

  it('when the daemon dies the UI says so and R starts it again', async () => {
    const ui = await open();
    await shutdownDaemon(ui.home);
    await ui.waitFor('The daemon is gone', 15_000);
    await ui.waitFor('Press R to start it again');
    ui.write('R');
    await ui.waitFor(/Started the daemon \(pid/, 30_000);
    ui.write('1');
    await ui.waitForRow('1', 'running');
  }, 90_000);

  it('with no config: the default templates; ? lists them', async () => {
    const ui = await open({ config: undefined });
    ui.write('?');
    await ui.waitFor('Templates');
    // a frame may arrive in pieces: wait for the whole list rather than read one screen
    await ui.waitFor(/1 (texture|simulated analysis)/);
    await ui.waitFor('stuck in a sync loop');
    await ui.waitFor('ignores SIGTERM');
    await ui.waitFor('fails now and then');
  }, 60_000);

  it('a bad config file: one clear message naming the problem', async () => {
    const ui = new PtyUi({ config: { templates: [{ name: 'x', command: 'python3 job.py' }] } });
    uis.push(ui);
    const exit = await ui.exited;
    expect(exit.exitCode).toBe(2);
    expect(ui.raw).toContain(`${path.join(ui.dir, 'taskwarden.config.json')}: templates[0].command`);
  }, 30_000);
});

describe('without a TTY', () => {
  it('says so in one line and points to the CLI', async () => {
    const { execa } = await import('execa');
    const env = { ...process.env };
    delete env.CI;
    const result = await execa(process.execPath, [cliPath], { input: '', reject: false, env });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/not a TTY.*taskwarden --help/);
  }, 30_000);
});
