import { afterEach, describe, expect, it } from 'vitest';
import { render, cleanup } from 'ink-testing-library';
import { App } from '../../src/tui/components/app.js';
import { Header } from '../../src/tui/components/chrome.js';
import { Controller } from '../../src/tui/controller.js';
import { TuiStore } from '../../src/tui/store.js';
import { FastPaint } from '../../src/tui/fast-paint.js';
import { rowText, tableLayout } from '../../src/tui/row.js';
import { memoryPrefs, type PrefsStore } from '../../src/tui/prefs.js';
import { defaultTemplates, type Template } from '../../src/tasks/templates.js';
import { FakeDaemon, FakeDaemonError } from './fake-daemon.js';

const templates: Template[] = [
  { key: 1, name: 'steady work', spec: { module: '/fake/steady.js', name: 'steady work' } },
  { key: 2, name: 'stubborn loop', spec: { module: '/fake/stubborn.js', name: 'stubborn loop' } },
  { key: 3, name: 'shell job', spec: { command: 'sh', args: ['-c', 'true'], name: 'shell job' } },
];

const ESC = '\u001B';
const keys = {
  up: `${ESC}[A`,
  down: `${ESC}[B`,
  pageDown: `${ESC}[6~`,
  home: `${ESC}[H`,
  end: `${ESC}[F`,
  enter: '\r',
  escape: ESC,
  ctrlC: '\u0003',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** React commits a store change in a microtask: still this turn of the event loop, before any reply can arrive. */
async function microtasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

async function until(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const controllers: Controller[] = [];
afterEach(() => {
  cleanup();
  for (const c of controllers.splice(0)) c.dispose();
});

async function setup(
  options: {
    rows?: number;
    columns?: number;
    daemon?: FakeDaemon;
    templates?: Template[];
    prefs?: PrefsStore;
    awaitStart?: boolean;
  } = {},
) {
  const daemon = options.daemon ?? new FakeDaemon();
  const store = new TuiStore({
    templates: options.templates ?? templates,
    size: { columns: options.columns ?? 120, rows: options.rows ?? 30 },
    frameMs: 5,
  });
  const controller = new Controller({
    store,
    connect: daemon.connect,
    machineLoad: () => ({ load1: 0.5, cpus: 2, memUsedFraction: 0.4 }),
    tickMs: 40,
    prefs: options.prefs ?? memoryPrefs(),
  });
  controllers.push(controller);
  const ui = render(<App controller={controller} />);
  const started = controller.start();
  if (options.awaitStart !== false) await started;
  const frame = () => ui.lastFrame() ?? '';
  const press = async (input: string) => {
    ui.stdin.write(input);
    await sleep(0);
  };
  const waitFor = (text: string | RegExp, timeoutMs?: number) =>
    until(
      () => (typeof text === 'string' ? frame().includes(text) : text.test(frame())),
      `${String(text)} on screen; last frame:\n${frame()}`,
      timeoutMs,
    );
  return { daemon, store, controller, ui, frame, press, waitFor, started };
}

/** The row of the table for task `id`. */
function rowOf(frame: string, id: string): string {
  return frame.split('\n').find((line) => line.startsWith(`${id} `) || line.startsWith(`${id}  `)) ?? '';
}

describe('Header', () => {
  it('a long cluster URL loses its middle, not the queue name or the load, at 80 columns', () => {
    const url = 'redis://worker:***@redis-primary.imaging-cluster.internal.example.org:6379/3';
    const { lastFrame } = render(
      <Header
        daemon={{ kind: 'connected' }}
        cluster={`${url} queue plates`}
        counts={{}}
        load={{ load1: 1.5, cpus: 2, memUsedFraction: 0.4 }}
        width={80}
      />,
    );
    const first = lastFrame()!.split('\n')[0];
    expect([...first].length).toBeLessThanOrEqual(80);
    expect(first).toMatch(/^ taskwarden +● cluster redis-prim.*….*3 queue plates +load 1\.50 \/ 2 CPUs · mem 40%$/);
  });

  it('a short one is shown whole', () => {
    const { lastFrame } = render(
      <Header daemon={{ kind: 'connected' }} cluster="redis://localhost:6379 queue q" counts={{}} width={80} />,
    );
    expect(lastFrame()!.split('\n')[0]).toMatch(/^ taskwarden +● cluster redis:\/\/localhost:6379 queue q *$/);
  });
});

describe('App', () => {
  it('connects, shows the header, an empty table and the keys', async () => {
    const { frame, waitFor } = await setup();
    await waitFor('daemon pid 4242');
    expect(frame()).toContain('No tasks yet. Press 1-9');
    expect(frame()).toContain('k cancel');
    expect(frame()).toContain('load 0.50 / 2 CPUs');
    // the frame fills the screen but one line, so Ink can update it in place
    expect(frame().split('\n')).toHaveLength(29);
  });

  it('1 starts template 1, selects it, and shows its progress and usage', async () => {
    const { daemon, frame, press, waitFor } = await setup();
    await press('1');
    await waitFor('steady work');
    expect(daemon.requests.at(-1)).toMatchObject({
      type: 'TASK_REQUEST',
      payload: { spec: { module: '/fake/steady.js' } },
    });
    expect(frame()).toContain('Started task 1: steady work');
    daemon.progress('1', 0.42, 'tile 42/100');
    daemon.emit({
      type: 'TASK_USAGE',
      taskId: '1',
      usage: { cpuPercent: 97, rssBytes: 50 * 2 ** 20, processes: 1, sampledAt: Date.now(), windowMs: 1000 },
    });
    await waitFor('tile 42/100');
    const row = rowOf(frame(), '1');
    expect(row).toContain('42%');
    expect(row).toContain('▶ running');
    expect(row).toContain('97%');
    expect(row).toContain('50 MiB');
  });

  it('k shows cancelling… in the very next frame, before the daemon answers, then the outcome', async () => {
    const { daemon, ui, frame, press, waitFor } = await setup();
    await press('1');
    await waitFor('steady work');
    daemon.hold = true;
    const before = ui.frames.length;
    ui.stdin.write('k');
    await microtasks(); // no timers, no I/O: the frame is written in this turn of the event loop
    expect(ui.frames.length).toBeGreaterThan(before);
    expect(rowOf(frame(), '1')).toContain('cancelling…');
    expect(frame()).toContain('Cancelling task 1');
    expect(daemon.requests.at(-1)?.type).toBe('TASK_CANCEL');
    daemon.releaseAll();
    await waitFor(/Task 1 cancelled after \d/);
    expect(rowOf(frame(), '1')).toContain('■ cancelled');
  });

  it('K shows killing… at once and then "killed (SIGKILL) after N ms"', async () => {
    const { daemon, ui, frame, press, waitFor } = await setup();
    await press('2');
    await waitFor('stubborn loop');
    daemon.hold = true;
    ui.stdin.write('K');
    await microtasks();
    expect(rowOf(frame(), '1')).toContain('killing…');
    expect(frame()).toContain('Killing task 1 (SIGKILL');
    daemon.releaseAll();
    await waitFor(/Task 1 killed \(SIGKILL\) after \d+ ms/);
    expect(rowOf(frame(), '1')).toContain('☠ killed');
  });

  it('k on a task that ignores it reports the escalation', async () => {
    const { frame, press, waitFor } = await setup();
    await press('2');
    await waitFor('stubborn loop');
    await press('k');
    await waitFor(/Task 1 killed \(SIGKILL\) after .*grace period/);
    expect(rowOf(frame(), '1')).toContain('escalated');
  });

  it('r restarts: attempt 2 running', async () => {
    const { daemon, frame, press, waitFor } = await setup();
    await press('1');
    await waitFor('steady work');
    daemon.end('1', 'failed', { error: { name: 'Error', message: 'boom' } });
    await waitFor('✘ failed');
    expect(rowOf(frame(), '1')).toContain('boom');
    daemon.hold = true;
    await press('r');
    expect(rowOf(frame(), '1')).toContain('restarting…');
    daemon.releaseAll();
    await waitFor(/Task 1 restarted: attempt 2 running/);
    expect(rowOf(frame(), '1')).toMatch(/▶ running.* 2$/);
  });

  it('s: "Emergency stop — terminating N tasks…" at once, then "Stopped N tasks in … s (… cancelled, … killed)"', async () => {
    const { daemon, ui, frame, press, waitFor } = await setup();
    await press('1');
    await waitFor('Started task 1');
    await press('2');
    await waitFor('Started task 2');
    await press('1');
    await waitFor('Started task 3');
    daemon.hold = true;
    ui.stdin.write('s');
    await microtasks();
    expect(frame()).toContain('Emergency stop — terminating 3 tasks…');
    for (const id of ['1', '2', '3']) expect(rowOf(frame(), id)).toContain('cancelling…');
    daemon.releaseAll();
    await waitFor(/Stopped 3 tasks in (\d+ ms|\d+\.\d\d s|\d+ s) \(2 cancelled, 1 killed\)/);
    await press('s');
    await waitFor('Nothing to stop');
  });

  it('a backend error shows in the status line and the UI carries on', async () => {
    const { daemon, frame, press, waitFor } = await setup();
    await press('1');
    await waitFor('steady work');
    daemon.failures.set('TASK_KILL', new FakeDaemonError('INTERNAL', 'kill exploded'));
    await press('K');
    await waitFor('Kill of task 1 failed: INTERNAL: kill exploded');
    expect(rowOf(frame(), '1')).toContain('▶ running'); // the optimistic state is taken back
    daemon.failures.clear();
    await press('K');
    await waitFor(/Task 1 killed/);
  });

  it('when the daemon dies the UI says so, stays usable, and R starts it again', async () => {
    const { daemon, frame, press, waitFor } = await setup();
    await press('1');
    await waitFor('steady work');
    daemon.die();
    await waitFor('The daemon is gone');
    expect(frame()).toContain('Press R to start it again');
    expect(frame()).toContain('daemon gone');
    await press('k');
    await waitFor('Not connected to the daemon');
    await press(keys.down); // still responsive
    await press('R');
    await waitFor(/Started the daemon|Connected to the daemon/);
    expect(daemon.startedByAutostart).toBe(1);
    expect(frame()).toContain('daemon pid 4242');
  });

  it('the header says when the journal cannot be written: from the HELLO reply, then as DAEMON_HEALTH events change it', async () => {
    const daemon = new FakeDaemon();
    const ok = { journal: { writable: true, held: 0 }, logs: { writable: true, droppedLines: 0 } };
    daemon.health = {
      ...ok,
      journal: {
        writable: false,
        failingSince: new Date(2026, 0, 5, 14, 2, 30).getTime(),
        cause: 'ENOSPC',
        message: 'database or disk is full (SQLITE_FULL)',
        held: 3,
      },
    };
    const { frame, waitFor } = await setup({ daemon });
    await waitFor('journal: writes failing (ENOSPC) since 14:02');
    const header = frame().split('\n')[0];
    expect(header).toContain('● daemon pid 4242  ⚠ journal: writes failing (ENOSPC) since 14:02');
    expect(header).toContain('load 0.50 / 2 CPUs');
    // Space again: the warning goes.
    daemon.emit({ type: 'DAEMON_HEALTH', health: ok });
    await until(() => !frame().includes('journal:'), `the warning to go; last frame:\n${frame()}`);
    expect(frame().split('\n')[0]).toContain('● daemon pid 4242');
    // Task logs failing alone: a warning of its own.
    daemon.emit({
      type: 'DAEMON_HEALTH',
      health: {
        ...ok,
        logs: {
          writable: false,
          failingSince: new Date(2026, 0, 5, 9, 5).getTime(),
          cause: 'ENOSPC',
          droppedLines: 12,
        },
      },
    });
    await waitFor('⚠ task logs: writes failing (ENOSPC) since 09:05');
    // A lost connection drops what that daemon reported.
    daemon.die();
    await waitFor('daemon gone');
    expect(frame()).not.toContain('writes failing');
  });

  it('starts the daemon when none runs', async () => {
    const daemon = new FakeDaemon();
    daemon.running = false;
    const { frame, waitFor, controller } = await setup({ daemon });
    await waitFor('Started the daemon');
    expect(controller.startedDaemon).toBe(true);
    expect(frame()).toContain('daemon pid');
  });

  it('q while the UI starts the daemon waits for it and hands it over to be shut down; keys held meanwhile are dropped', async () => {
    const daemon = new FakeDaemon();
    daemon.running = false;
    const start = daemon.gateStart();
    const { frame, press, waitFor, controller, started } = await setup({
      daemon,
      awaitStart: false,
      columns: 80,
      rows: 24,
    });
    await waitFor('daemon starting…');
    await press('1');
    await waitFor('your request will run when it is up: start 1');
    await press('q');
    await waitFor('Quitting once the new daemon is up, to shut it down (Ctrl+C: leave it running)');
    expect(expectFits(frame(), 80, 24)[22]).toContain('Ctrl+C quit now');
    await press('2'); // leaving: nothing else is taken
    start();
    await started;
    const result = await controller.done;
    expect(result).toMatchObject({ how: 'idle', startedDaemon: true });
    expect(result.client?.closed).toBe(false); // run.ts shuts down a daemon it started through it
    expect(daemon.requests.map((r) => r.type)).toEqual([]);
  });

  it('Ctrl+C while waiting for the daemon being started leaves at once, saying it may be left running', async () => {
    const daemon = new FakeDaemon();
    daemon.running = false;
    const start = daemon.gateStart();
    const { press, waitFor, controller } = await setup({ daemon, awaitStart: false });
    await waitFor('daemon starting…');
    await press('q');
    await waitFor('Quitting once the daemon this UI is starting is up');
    await press(keys.ctrlC);
    expect(await controller.done).toMatchObject({ how: 'leftStarting', startedDaemon: false });
    start();
    await until(() => daemon.clients.length === 1, 'the connection to land');
    await until(() => daemon.clients[0].closed, 'the late connection to be closed');
  });

  it('q while only connecting to a daemon quits at once, and starts none afterwards', async () => {
    const daemon = new FakeDaemon();
    daemon.running = false;
    const open = daemon.gateConnect();
    const { press, waitFor, controller, started } = await setup({ daemon, awaitStart: false });
    await waitFor('daemon connecting…');
    await press('q');
    expect((await controller.done).how).toBe('disconnected');
    open();
    await started;
    expect(daemon.startedByAutostart).toBe(0);
  });

  it('marks a stalled task plainly', async () => {
    const { daemon, frame, press, waitFor } = await setup({ columns: 140 });
    await press('2');
    await waitFor('stubborn loop');
    daemon.emit({
      type: 'TASK_STALL',
      taskId: '1',
      stall: { taskId: '1', silentForMs: 14_000, diagnosis: 'spinning', cpuPercent: 100 },
    });
    await waitFor('no progress for 14 s · spinning at 100% CPU');
    daemon.progress('1', 0.5, 'moving again');
    await waitFor('moving again');
    expect(frame()).not.toContain('no progress for');
  });

  it('a task that wants CPU and gets almost none says it waits for CPU, in the row and the details, and why', async () => {
    const daemon = new FakeDaemon();
    const { frame, press, waitFor, store } = await setup({ daemon, columns: 140, rows: 30 });
    daemon.add({ module: '/x.js', name: 'starved', priority: 'idle' }, 'starting');
    await waitFor('◔ starting');
    const usage = (cpuPercent: number, runnable: boolean) => ({
      cpuPercent,
      rssBytes: 40 * 2 ** 20,
      processes: 1,
      sampledAt: Date.now(),
      windowMs: 1000,
      runnable,
    });
    daemon.emit({ type: 'TASK_USAGE', taskId: '1', usage: usage(2, true) });
    await waitFor('⏳ waiting for CPU (idle priority)');
    const narrow = rowText(store.task('1')!, false, tableLayout(80), Date.now()); // the short form where the cell is narrow, not a cut one
    expect(narrow).toContain('⏳ waiting for CPU');
    expect(narrow).not.toContain('…');
    expect(rowText(store.task('1')!, false, tableLayout(60), Date.now())).toContain('⏳ no CPU '); // the narrowest
    await press(keys.enter);
    await waitFor(/Waiting +for CPU: its processes are runnable but got 2% of a core\. At idle priority/);
    await press(keys.escape);
    // given its share, or sleeping: not waiting
    daemon.emit({ type: 'TASK_USAGE', taskId: '1', usage: usage(60, true) });
    await waitFor(/^1 .* 60%/m);
    expect(frame()).not.toContain('waiting for CPU');
    daemon.emit({ type: 'TASK_USAGE', taskId: '1', usage: usage(1, false) });
    await waitFor(/^1 .* 1%/m);
    expect(frame()).not.toContain('waiting for CPU');
    // the watchdog calls a runnable task spinning; with almost no CPU it is waiting for CPU, in yellow
    daemon.set({ ...daemon.tasks.get('1')!, state: 'running' }, 'starting');
    daemon.emit({
      type: 'TASK_STALL',
      taskId: '1',
      stall: { taskId: '1', silentForMs: 14_000, diagnosis: 'spinning', cpuPercent: 3 },
    });
    await waitFor('no progress for 14 s · waiting for CPU (3%)');
    expect(frame()).not.toContain('spinning');
  });

  it('draws only the rows that fit, and scrolls with the selection', async () => {
    const daemon = new FakeDaemon();
    for (let i = 0; i < 500; i++) daemon.add({ module: '/x.js', name: `bulk ${i + 1}` });
    const { frame, press, waitFor } = await setup({ daemon, rows: 20 });
    await waitFor('500 tasks');
    const visible = 20 - 1 - 5;
    expect(
      frame()
        .split('\n')
        .filter((l) => /^\d+ +>? *bulk/.test(l)),
    ).toHaveLength(visible);
    await press(keys.end);
    await waitFor('bulk 500');
    expect(frame()).not.toContain('bulk 1 ');
    await press(keys.home);
    await waitFor('bulk 1 ');
    await press(keys.pageDown);
    await press(keys.pageDown);
    await waitFor(`bulk ${2 * (visible - 1) + 1} `);
    expect(frame()).not.toContain('bulk 1 ');
  });

  it('l toggles the log pane with the selected task’s log', async () => {
    const { daemon, frame, press, waitFor } = await setup();
    await press('1');
    await waitFor('steady work');
    daemon.logs.set('1', [
      { stream: 'stdout', line: 'hello from the task' },
      { stream: 'stdout', line: 'second line' },
    ]);
    await press('l');
    await waitFor('second line');
    expect(frame()).toContain('log · task 1');
    daemon.emit({
      type: 'TASK_LOG',
      log: { taskId: '1', attempt: 1, stream: 'stderr', line: 'live line', at: Date.now() },
    });
    await waitFor('! live line');
    await press('l');
    await until(() => !frame().includes('log · task 1'), 'log pane closed');
  });

  it('c clears finished rows; ? shows help with the templates', async () => {
    const { daemon, frame, press, waitFor } = await setup();
    await press('1');
    await waitFor('Started task 1');
    await press('3');
    await waitFor('Started task 2');
    daemon.end('1', 'completed');
    await waitFor('done in');
    await press('c');
    await waitFor('Cleared 1 finished row');
    expect(rowOf(frame(), '1')).toBe('');
    expect(rowOf(frame(), '2')).toContain('shell job');
    await press('?');
    await waitFor('Templates');
    expect(frame()).toContain('emergency stop');
    expect(frame()).toContain('2 stubborn loop');
    await press('x');
    await waitFor('shell job');
    expect(frame()).not.toContain('Templates');
  });

  it('q with running tasks asks; Esc stays; q then d detaches', async () => {
    const { frame, press, waitFor, controller } = await setup();
    await press('1');
    await waitFor('Started task 1');
    await press('q');
    await waitFor('[s] stop them and quit');
    expect(frame()).toContain('[d] detach');
    await press(keys.escape);
    await waitFor('Still here');
    await press('q');
    await waitFor('[s] stop them and quit');
    await press('d');
    const result = await controller.done;
    expect(result).toMatchObject({ how: 'detached', active: 1, startedDaemon: false });
  });

  it('q then s stops every task before quitting', async () => {
    const { daemon, press, waitFor, controller } = await setup();
    await press('1');
    await waitFor('Started task 1');
    await press('q');
    await waitFor('[s] stop them and quit');
    daemon.hold = true;
    await press('s');
    await waitFor('Stopping 1 task before quitting');
    daemon.releaseAll();
    const result = await controller.done;
    expect(result.how).toBe('stopped');
    expect([...daemon.tasks.values()].every((t) => t.state === 'cancelled')).toBe(true);
  });

  it('q with nothing running quits at once; so does Ctrl+C', async () => {
    const { press, controller } = await setup();
    await press(keys.ctrlC);
    expect((await controller.done).how).toBe('idle');
  });

  it('the fast path paints the row and the status line exactly where the frame puts them', async () => {
    const daemon = new FakeDaemon();
    for (let i = 0; i < 40; i++) daemon.add({ module: '/x.js', name: `bulk ${i + 1}` });
    const { store, frame, press, waitFor } = await setup({ daemon, rows: 24, columns: 100 });
    await waitFor('40 tasks');
    for (let i = 0; i < 25; i++) await press(keys.down); // scrolled
    await waitFor(/^26 +> bulk 26 /m);
    daemon.hold = true;
    await press('k');
    await waitFor('Cancelling task 26');
    // the frame of exactly the state the paint reads (no clock tick in between)
    store.commit();
    await microtasks();
    const lines = frame().split('\n');
    const writes: string[] = [];
    const paint = new FastPaint({ write: (d: string) => writes.push(d) }, store);
    paint.paint(['26', '1']); // task 1 is scrolled out of view: not painted
    expect(writes).toHaveLength(1);
    const parts = [...writes[0].matchAll(/\x1b\[(\d+);1H([^\x1b]*)/g)];
    expect(parts).toHaveLength(2);
    for (const [, line, text] of parts) expect(lines[Number(line) - 1].trimEnd()).toBe(text.trimEnd());
    expect(parts[0][2]).toMatch(/^26 +> bulk 26 +◍ cancelling…/);
    expect(parts[1][2]).toContain('Cancelling task 26');
    daemon.releaseAll();
  });

  it('a resize changes the number of rows drawn', async () => {
    const daemon = new FakeDaemon();
    for (let i = 0; i < 50; i++) daemon.add({ module: '/x.js', name: `bulk ${i + 1}` });
    const { frame, ui, waitFor, store } = await setup({ daemon, rows: 20 });
    await waitFor('50 tasks');
    (ui.stdout as unknown as { rows: number }).rows = 30;
    ui.stdout.emit('resize');
    await until(() => store.getSnapshot().size.rows === 30, 'resize');
    expect(frame().split('\n')).toHaveLength(29);
    expect(
      frame()
        .split('\n')
        .filter((l) => /^\d+ +>? *bulk/.test(l)),
    ).toHaveLength(30 - 1 - 5);
  });
});

/** A frame's lines, each at most `columns` cells, exactly rows - 1 of them. */
function expectFits(frame: string, columns: number, rows: number): string[] {
  const lines = frame.split('\n');
  expect(lines).toHaveLength(rows - 1);
  for (const line of lines) expect([...line].length, line).toBeLessThanOrEqual(columns);
  return lines;
}

describe('what a new user trips over', () => {
  it('1: a start pressed while the daemon is starting runs once it is up; a k after it stops that task', async () => {
    const daemon = new FakeDaemon();
    daemon.running = false;
    const open = daemon.gateConnect();
    const { frame, press, waitFor, started } = await setup({ daemon, awaitStart: false });
    await waitFor('daemon connecting…');
    await press('1');
    // answered at once, on screen
    await waitFor('your request will run when it is up: start 1 (steady work)');
    await press('k');
    await waitFor('2 requests will run when it is up: start 1 (steady work), cancel the task started before it');
    expect(daemon.requests).toEqual([]);
    open();
    await started;
    await waitFor(/Task 1 cancelled after \d/);
    expect(daemon.requests.map((r) => r.type)).toEqual(['TASK_REQUEST', 'TASK_CANCEL']);
    expect(rowOf(frame(), '1')).toContain('■ cancelled');
  });

  it('1: s pressed before the daemon listed its tasks stops them once it has', async () => {
    const daemon = new FakeDaemon();
    daemon.add({ module: '/x.js', name: 'already running A' });
    daemon.add({ module: '/x.js', name: 'already running B' });
    const open = daemon.gateConnect();
    const { press, waitFor, started } = await setup({ daemon, awaitStart: false });
    await waitFor('daemon connecting…');
    await press('s');
    await waitFor('your request will run when it is up: stop every task');
    open();
    await started;
    await waitFor(/Stopped 2 tasks in (\d+ ms|\d+\.\d\d s|\d+ s) \(2 cancelled, 0 killed\)/);
  });

  it('1: a stop key pressed while reconnecting acts on the task that was selected, once the daemon is back', async () => {
    const { daemon, press, waitFor } = await setup();
    await press('1');
    await waitFor('Started task 1');
    daemon.die();
    await waitFor('The daemon is gone');
    const open = daemon.gateConnect();
    await press('R');
    await waitFor('daemon starting…');
    await press('K');
    await waitFor('your request will run when it is up: kill task 1');
    open();
    await waitFor(/Task 1 killed \(SIGKILL\) after \d+ ms/);
  });

  it('1: k with nothing selected while connecting is answered at once, not dropped', async () => {
    const daemon = new FakeDaemon();
    const open = daemon.gateConnect();
    const { press, waitFor, started } = await setup({ daemon, awaitStart: false });
    await waitFor('daemon connecting…');
    await press('k');
    await waitFor('k: no task selected');
    open();
    await started;
  });

  it('2: Enter shows a failed task in full at 80×24: error, stack, exit code, attempts with pids, log tail', async () => {
    const { daemon, frame, press, waitFor } = await setup({ columns: 80, rows: 24 });
    await press('1');
    await waitFor('Started task 1');
    const message = 'flaky task failed at step 16/40 (simulated: one run in three fails; press r to run it again)';
    const stack = `Error: ${message}\n    at run (file:///opt/taskwarden/dist/src/tasks/builtin/flaky.js:12:15)\n    at async Host.execute (file:///opt/taskwarden/dist/src/runner/host.js:88:20)`;
    const t = daemon.tasks.get('1')!;
    daemon.attempts.set('1', [
      {
        attempt: 1,
        state: 'failed',
        pid: 10001,
        startedAt: t.startedAt,
        endedAt: Date.now(),
        durationMs: 812,
        exitCode: 1,
        error: { name: 'Error', message },
      },
    ]);
    daemon.logs.set('1', [
      { stream: 'stdout', line: 'step 15/40' },
      { stream: 'stderr', line: `Error: ${message}` },
    ]);
    daemon.end('1', 'failed', { error: { name: 'Error', message, stack }, exitCode: 1 });
    await waitFor('✘ failed');
    expect(rowOf(frame(), '1')).toContain('flaky task failed at'); // cut in the table…
    await press(keys.enter);
    await waitFor('Attempts');
    await waitFor('10001');
    const lines = expectFits(frame(), 80, 24);
    const text = lines.join('\n').replace(/\n {11}/g, ' '); // a wrapped value continues under itself
    expect(text).toContain(message); // …whole here
    expect(text).toContain('exit code 1');
    expect(text).toContain('flaky.js:12:15');
    expect(text).toMatch(/✘ failed · attempt 1/);
    // the log tail is further down
    await press(keys.end);
    await waitFor('step 15/40');
    expectFits(frame(), 80, 24);
    await press(keys.escape);
    await waitFor(/^ID +NAME/m);
  });

  it('2: the log pane of a finished task without output says so, not "(no output yet)"', async () => {
    const { daemon, press, waitFor, frame } = await setup();
    await press('1');
    await waitFor('Started task 1');
    daemon.end('1', 'completed');
    await waitFor('✔ completed');
    await press('l');
    await waitFor('log · task 1');
    await waitFor('(this attempt wrote no output)');
    expect(frame()).not.toContain('no output yet');
  });

  it('3: help at 80×24 with the default templates keeps every line whole and scrolls to the rest', async () => {
    const defaults = await defaultTemplates();
    const { press, waitFor, frame } = await setup({ columns: 80, rows: 24, templates: defaults });
    await waitFor('daemon pid');
    await press('?');
    await waitFor(' Keys');
    const seen: string[] = [];
    let lines = expectFits(frame(), 80, 24);
    seen.push(...lines);
    expect(lines[2]?.trimEnd()).toBe(' Keys'); // the title, right under the header
    for (let i = 0; i < 10 && !frame().includes('Esc closes this help'); i++) {
      await press(keys.pageDown);
      await sleep(20);
      lines = expectFits(frame(), 80, 24);
      seen.push(...lines);
    }
    const all = seen.join('\n');
    expect(all).toContain('kill the selected task now');
    expect(all).toMatch(/^ {2}c +clear finished rows/m);
    for (const t of defaults) {
      // each template starts a line of its own, with its name whole
      expect(all).toMatch(new RegExp(`^  ${t.key} ${t.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
    }
    // still the help: a scroll key does not close it
    expect(frame()).toContain('Esc closes this help');
    await press(keys.escape);
    await waitFor(/^ID +NAME/m);
  });

  it('3: help at 120×20 with a custom config leaves no fragment behind', async () => {
    const custom: Template[] = Array.from({ length: 9 }, (_, i) => ({
      key: i + 1,
      name: `custom job number ${i + 1}`,
      description: `runs the nightly batch ${i + 1} against the staging database and reports progress as JSON lines`,
      spec: { command: 'true', name: `custom job number ${i + 1}` },
    }));
    const { press, waitFor, frame } = await setup({ columns: 120, rows: 20, templates: custom });
    await waitFor('daemon pid');
    await press('?');
    await waitFor(' Keys');
    const lines = expectFits(frame(), 120, 20);
    expect(lines.join('\n')).not.toMatch(/again\)\S/);
    expect(lines.join('\n')).toContain('restart the selected task (kill this attempt, run it again)');
    expect(lines.join('\n')).toContain('kill the selected task now (SIGKILL to every process of it)');
  });

  it('6: "done in" and ELAPSED count the same span (the attempt, start-up included)', async () => {
    const { daemon, press, waitFor, frame } = await setup();
    await press('1');
    await waitFor('Started task 1');
    const t = daemon.tasks.get('1')!;
    // it started running 1.45 s after its process was started, and ran 3.20 s
    const endedAt = t.startedAt! + 3204;
    daemon.set({ ...t, state: 'completed', endedAt, outcome: { state: 'completed', durationMs: 4650, attempt: 1 } });
    await waitFor('✔ completed');
    const row = rowOf(frame(), '1');
    expect(row).toContain('done in 4.65 s');
    expect(row).toMatch(/ 0:04 /);
  });

  it('6: a row stopped while its process was still starting has an ELAPSED', async () => {
    const { daemon, waitFor, frame } = await setup();
    const queued = daemon.add({ module: '/slow-boot.js', name: 'slow boot' }, 'queued');
    const t = daemon.set({ ...queued, state: 'starting', pid: 10_001 }, 'queued'); // its process boots: not running yet
    await waitFor('◔ starting');
    const endedAt = t.createdAt + 2500;
    daemon.set({
      ...t,
      state: 'cancelled',
      endedAt,
      stopReason: 'cancel',
      outcome: { state: 'cancelled', durationMs: 2500, attempt: 1, stopReason: 'cancel' },
    });
    await waitFor('■ cancelled');
    expect(rowOf(frame(), '1')).toMatch(/ 0:02 /);
  });

  it('6: rows cleared with c stay cleared when the UI is opened again; one that runs again comes back', async () => {
    const prefs = memoryPrefs();
    const daemon = new FakeDaemon();
    const first = await setup({ daemon, prefs });
    await first.press('1');
    await first.waitFor('Started task 1');
    await first.press('3');
    await first.waitFor('Started task 2');
    daemon.end('1', 'completed');
    await first.waitFor('✔ completed');
    await first.press('c');
    await first.waitFor('Cleared 1 finished row');
    cleanup();
    const second = await setup({ daemon, prefs });
    await second.waitFor('daemon pid');
    await second.waitFor(/^2 .*shell job/m);
    expect(rowOf(second.frame(), '1')).toBe('');
    // run again (from the CLI): back in the table
    const t = daemon.tasks.get('1')!;
    daemon.set({
      ...t,
      state: 'running',
      attempt: 2,
      startedAt: Date.now(),
      endedAt: undefined,
      outcome: undefined,
    } as never);
    await second.waitFor(/^1 .*steady work/m);
  });

  it('Esc typed together with the next key (read as Alt+key) is not lost', async () => {
    const { press, waitFor, frame } = await setup();
    await press('1');
    await waitFor('Started task 1');
    await press('3');
    await waitFor('Started task 2');
    await press(keys.up);
    await waitFor(/^1 +> steady work/m);
    await press(keys.enter);
    await waitFor('Attempts');
    await press(`${ESC}${keys.down}`); // Esc, then ↓, in one read
    await waitFor(/^2 +> shell job/m);
    expect(frame()).not.toContain('Attempts');
  });

  it('the quit prompt keeps every choice on screen at 80 columns', async () => {
    const { press, waitFor, frame } = await setup({ columns: 80, rows: 24 });
    await press('1');
    await waitFor('Started task 1');
    await press('q');
    await waitFor('[Esc] stay');
    const lines = expectFits(frame(), 80, 24);
    expect(lines[21]).toMatch(/\[s\] stop.*\[d\] detach.*\[Esc\] stay$/);
    expect(lines[21]).not.toContain('…');
    expect(lines[22]).toContain('Esc stay'); // the hints say the same, not the table's keys
    await press(keys.escape);
    await waitFor('Still here');
  });

  it('6: the key hints fit 80 columns, none cut', async () => {
    const { frame, waitFor } = await setup({ columns: 80, rows: 24 });
    await waitFor('daemon pid');
    const footer = frame().split('\n')[22];
    expect(footer).not.toContain('…');
    expect(footer).toMatch(/ \? help {2}q quit$/);
    expect(footer).toContain('k cancel  K kill');
  });
});
