import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TaskSnapshot } from '../../src/supervisor/types.js';
import { messageFor, rowText, tableLayout } from '../../src/tui/row.js';
import { fit, formatBytes, formatDuration, progressBar, stallText } from '../../src/tui/format.js';
import { actionFor, footerText, splitInput } from '../../src/tui/keys.js';
import { TuiStore } from '../../src/tui/store.js';
import { visibleRowCount } from '../../src/tui/ui-state.js';

function snap(id: string, state: TaskSnapshot['state'] = 'running', extra: Partial<TaskSnapshot> = {}): TaskSnapshot {
  return {
    id,
    name: `task ${id}`,
    kind: 'module',
    spec: { module: '/x.js' },
    state,
    attempt: 1,
    createdAt: 1000 + Number(id),
    ...extra,
  };
}

describe('store', () => {
  it('keeps tasks in creation order and the selection in view', () => {
    const store = new TuiStore({ size: { columns: 100, rows: 12 } });
    const visible = visibleRowCount(store.draft);
    expect(visible).toBe(12 - 1 - 5);
    for (let i = 20; i >= 1; i--) store.upsertTask(snap(String(i)));
    store.commit();
    expect(store.getSnapshot().order.slice(0, 3)).toEqual(['1', '2', '3']);
    store.moveSelection('end');
    store.commit();
    expect(store.getSnapshot().selectedId).toBe('20');
    expect(store.getSnapshot().scrollTop).toBe(20 - visible);
    store.moveSelection(-visible);
    store.commit();
    expect(store.getSnapshot().scrollTop).toBe(20 - visible - 1);
    store.moveSelection('start');
    store.commit();
    expect(store.getSnapshot().scrollTop).toBe(0);
  });

  it('a reply never moves a task backwards; an event always applies', () => {
    const store = new TuiStore();
    store.upsertTask(snap('1', 'running'));
    store.upsertTask(snap('1', 'cancelled'));
    store.upsertTask(snap('1', 'cancelling'), true); // the ACK, handled after the event
    expect(store.task('1')?.state).toBe('cancelled');
    store.upsertTask(snap('1', 'running', { attempt: 2 }), true); // a restart's ACK
    expect(store.task('1')?.attempt).toBe(2);
    store.upsertTask(snap('1', 'killed', { attempt: 1 }), true);
    expect(store.task('1')?.state).toBe('running');
  });

  it('a pending operation shows until the daemon reflects it', () => {
    const store = new TuiStore();
    store.upsertTask(snap('1', 'running'));
    store.setPending('1', 'kill');
    store.upsertTask(snap('1', 'running', { progress: { fraction: 0.5 } }));
    expect(store.task('1')?.pending?.op).toBe('kill');
    store.upsertTask(snap('1', 'killing'));
    expect(store.task('1')?.pending).toBeUndefined();
    store.setPending('1', 'restart');
    store.upsertTask(snap('1', 'killed'));
    expect(store.task('1')?.pending?.op).toBe('restart');
    store.upsertTask(snap('1', 'starting', { attempt: 2 }));
    expect(store.task('1')?.pending).toBeUndefined();
  });

  it('coalesces background changes into at most one commit per frame; a key commits at once', async () => {
    const store = new TuiStore({ frameMs: 30 });
    let commits = 0;
    store.subscribe(() => (commits += 1));
    store.upsertTask(snap('1'));
    store.commit();
    commits = 0;
    for (let i = 0; i < 100; i++) {
      store.setProgress('1', { fraction: i / 100 });
      store.changed();
    }
    expect(commits).toBe(0);
    await new Promise((r) => setTimeout(r, 60));
    expect(commits).toBe(1);
    expect(store.getSnapshot().tasks.get('1')?.progress?.fraction).toBe(0.99);
    store.setPending('1', 'cancel');
    store.changed(true);
    expect(commits).toBe(2);
  });

  it('only replaces the views of tasks that changed (rows are memoized on them)', () => {
    const store = new TuiStore();
    store.upsertTask(snap('1'));
    store.upsertTask(snap('2'));
    store.commit();
    const before = store.getSnapshot().tasks;
    store.setProgress('2', { fraction: 0.3 });
    store.commit();
    const after = store.getSnapshot().tasks;
    expect(after.get('1')).toBe(before.get('1'));
    expect(after.get('2')).not.toBe(before.get('2'));
  });

  it('a progress report clears a stall', () => {
    const store = new TuiStore();
    store.upsertTask(snap('1'));
    store.setStall('1', { taskId: '1', silentForMs: 12_000, diagnosis: 'blocked', cpuPercent: 0 });
    expect(store.task('1')?.stall).toBeDefined();
    store.setProgress('1', { fraction: 0.1 });
    expect(store.task('1')?.stall).toBeUndefined();
  });

  it('c drops finished rows only; a cleared task that runs again comes back', () => {
    const store = new TuiStore();
    store.upsertTask(snap('1', 'completed'));
    store.upsertTask(snap('2', 'running'));
    store.upsertTask(snap('3', 'killed'));
    store.appendLog('1', 'old line');
    expect(store.clearFinished().count).toBe(2);
    store.commit();
    expect(store.getSnapshot().order).toEqual(['2']);
    expect(store.getSnapshot().selectedId).toBe('2');
    expect(store.logs.has('1')).toBe(false);
    store.replaceTasks([snap('1', 'completed'), snap('2', 'running'), snap('3', 'killed')]); // a reconnect
    store.upsertTask(snap('3', 'killed'));
    store.commit();
    expect(store.getSnapshot().order).toEqual(['2']);
    store.upsertTask(snap('3', 'starting', { attempt: 2 })); // restarted from the CLI
    store.commit();
    expect(store.getSnapshot().order).toEqual(['2', '3']);
  });
});

describe('what a new user trips over', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const stall = (silentForMs: number) => ({
    taskId: '1',
    silentForMs,
    diagnosis: 'spinning' as const,
    cpuPercent: 100,
  });
  const usage = { cpuPercent: 99, rssBytes: 47.6 * 2 ** 20, processes: 1, sampledAt: 0, windowMs: 1000 };

  it('4: the stall silence is counted once when a later snapshot (a cancel) reports it again', () => {
    const clock = vi.spyOn(Date, 'now');
    const store = new TuiStore();
    clock.mockReturnValue(100_000);
    store.upsertTask(snap('1', 'running', { startedAt: 75_000 }));
    store.setStall('1', stall(10_000)); // first report, at 0:25 of the run
    clock.mockReturnValue(115_000);
    expect(messageFor(store.task('1')!, 115_000).text).toContain('no progress for 25 s');
    // k at 0:28: the cancelling snapshot carries the silence as of now
    clock.mockReturnValue(118_000);
    store.upsertTask(snap('1', 'cancelling', { startedAt: 75_000, stall: stall(28_000) }));
    expect(messageFor(store.task('1')!, 118_000).text).toContain('no progress for 28 s');
    expect(messageFor(store.task('1')!, 120_000).text).toContain('no progress for 30 s');
  });

  it('5: a restarted attempt shows nothing of the previous attempt until it has its own', () => {
    const store = new TuiStore();
    const now = 200_000;
    const old = {
      startedAt: now - 37_000,
      pid: 111,
      progress: { fraction: 0.13, message: 'spinning…' },
      usage,
      stall: stall(38_000),
    };
    store.upsertTask(snap('1', 'running', old));
    // what the daemon sends for attempt 2 before its process runs: attempt 1's leftovers
    for (const state of ['queued', 'starting'] as const) {
      store.upsertTask(snap('1', state, { attempt: 2, ...old }));
      const view = store.task('1')!;
      expect(view).toMatchObject({ attempt: 2, state });
      expect(view.progress ?? view.usage ?? view.stall ?? view.startedAt ?? view.pid).toBeUndefined();
      const row = rowText(view, false, tableLayout(140), Date.now());
      expect(row).not.toMatch(/13%|no progress|MiB|spinning|0:37/);
    }
    // running: its own from now on
    store.upsertTask(snap('1', 'running', { attempt: 2, startedAt: now, pid: 222 }));
    store.setProgress('1', { fraction: 0.02, message: 'step 1' });
    expect(store.task('1')).toMatchObject({ startedAt: now, pid: 222, progress: { fraction: 0.02 } });
  });

  it('a task that returned a result when cancelled shows how far it got, and that it ended on the cancel', () => {
    const store = new TuiStore();
    const endedAt = 300_000;
    store.replaceTasks([
      snap('1', 'completed', {
        startedAt: endedAt - 1890,
        endedAt,
        progress: { fraction: 0.18, message: 'step 18 of 100' },
        outcome: { state: 'completed', durationMs: 1890, attempt: 1, stopReason: 'cancel' },
      }),
      snap('2', 'completed', {
        startedAt: endedAt - 1890,
        endedAt,
        progress: { fraction: 0.5 },
        outcome: { state: 'completed', durationMs: 1890, attempt: 1 },
      }),
    ]);
    const early = rowText(store.task('1')!, false, tableLayout(140), endedAt);
    expect(early).toContain(' 18%');
    expect(early).toContain('done in 1.89 s, on cancel');
    const whole = rowText(store.task('2')!, false, tableLayout(140), endedAt);
    expect(whole).toContain('100%');
    expect(whole).toMatch(/done in 1\.89 s +\d/);
  });

  it('5: an attempt 2 cancelled before it started shows no progress and no elapsed time of attempt 1', () => {
    const store = new TuiStore();
    const endedAt = 300_000;
    // seen for the first time (a UI opened afterwards): attempt 1 ran 30 s and completed
    store.replaceTasks([
      snap('1', 'cancelled', {
        attempt: 2,
        startedAt: endedAt - 30_000,
        endedAt,
        progress: { fraction: 1 },
        outcome: { state: 'cancelled', durationMs: 0, attempt: 2, stopReason: 'cancel' },
      }),
    ]);
    const row = rowText(store.task('1')!, false, tableLayout(140), endedAt);
    expect(row).not.toContain('100%');
    expect(row).not.toContain('0:30');
    // seen live: queued attempt 2, then cancelled
    const live = new TuiStore();
    live.upsertTask(
      snap('1', 'completed', {
        startedAt: endedAt - 30_000,
        endedAt: endedAt - 1000,
        progress: { fraction: 1 },
        outcome: { state: 'completed', durationMs: 29_000, attempt: 1 },
      }),
    );
    live.upsertTask(snap('1', 'queued', { attempt: 2, startedAt: endedAt - 30_000, progress: { fraction: 1 } }));
    live.upsertTask(
      snap('1', 'cancelled', {
        attempt: 2,
        startedAt: endedAt - 30_000,
        endedAt,
        progress: { fraction: 1 },
        outcome: { state: 'cancelled', durationMs: 0, attempt: 2 },
      }),
    );
    const liveRow = rowText(live.task('1')!, false, tableLayout(140), endedAt);
    expect(liveRow).not.toContain('100%');
    expect(liveRow).not.toContain('0:30');
  });
});

describe('keys', () => {
  it('maps keys per mode', () => {
    expect(actionFor('k', {}, 'normal')).toEqual({ type: 'cancel' });
    expect(actionFor('K', { shift: true } as never, 'normal')).toEqual({ type: 'kill' });
    expect(actionFor('7', {}, 'normal')).toEqual({ type: 'template', key: 7 });
    expect(actionFor('0', {}, 'normal')).toBeUndefined();
    expect(actionFor('c', { ctrl: true }, 'normal')).toEqual({ type: 'interrupt' });
    expect(actionFor('', { pageDown: true }, 'normal')).toEqual({ type: 'move', delta: 'pageDown' });
    expect(actionFor('s', {}, 'quit')).toEqual({ type: 'quitStop' });
    expect(actionFor('d', {}, 'quit')).toEqual({ type: 'quitDetach' });
    expect(actionFor('', { escape: true }, 'quit')).toEqual({ type: 'quitStay' });
    expect(actionFor('k', {}, 'quit')).toBeUndefined();
    expect(actionFor('x', {}, 'help')).toEqual({ type: 'closeOverlay' });
    expect(actionFor('k', {}, 'quitting')).toBeUndefined();
    expect(actionFor('q', {}, 'leaving')).toBeUndefined();
    expect(actionFor('c', { ctrl: true }, 'leaving')).toEqual({ type: 'quitDetach' });
  });

  it('the key hints keep quit and help at every width, and every key that acts on tasks at 80 columns', () => {
    for (let width = 40; width <= 200; width++) {
      const hints = footerText(width);
      expect([...hints].length, `${width}: ${hints}`).toBeLessThanOrEqual(width - 1);
      for (const hint of ['1-9 start', 'k cancel', 'K kill', '? help', 'q quit'])
        expect(hints, `${width}`).toContain(hint);
      expect(footerText(width, 'details'), `${width}`).toMatch(/Esc close.*q quit/);
    }
    expect(footerText(80)).toBe('1-9 start  k cancel  K kill  r restart  s stop all  ⏎ details  ? help  q quit');
  });

  it('splits several printable characters read at once into keys', () => {
    expect(splitInput('1k')).toEqual(['1', 'k']);
    expect(splitInput('\u001b[A')).toEqual(['\u001b[A']);
    expect(splitInput('')).toEqual(['']);
  });
});

describe('format', () => {
  it('formats', () => {
    expect(formatDuration(2)).toBe('2 ms');
    expect(formatDuration(1234)).toBe('1.23 s');
    expect(formatDuration(4999)).toBe('4.99 s'); // cut like ELAPSED (0:04), never "5.00 s" next to it
    expect(formatDuration(14_200)).toBe('14 s');
    expect(formatDuration(185_000)).toBe('3 m 05 s');
    expect(formatBytes(50 * 2 ** 20)).toBe('50 MiB');
    expect(formatBytes(1.5 * 2 ** 30)).toBe('1.5 GiB');
    expect(formatBytes(512)).toBe('512 B');
    expect(progressBar(0.5, 10)).toBe('█████     ');
    expect([...progressBar(0.33, 10)]).toHaveLength(10);
    expect(progressBar(1, 4)).toBe('████');
    expect(fit('abcdef', 4)).toBe('abc…');
    expect(fit('ab', 4, 'right')).toBe('  ab');
    expect(stallText({ taskId: '1', silentForMs: 14_000, diagnosis: 'spinning', cpuPercent: 99.6 })).toBe(
      'no progress for 14 s · spinning at 100% CPU',
    );
    // runnable with almost no CPU (the watchdog's 'spinning'): waiting for it
    expect(stallText({ taskId: '1', silentForMs: 14_000, diagnosis: 'spinning', cpuPercent: 3.2 })).toBe(
      'no progress for 14 s · waiting for CPU (3%)',
    );
  });

  it('a stalled row at 80 columns still says for how long and why, in less', () => {
    const store = new TuiStore();
    const cases = [
      { diagnosis: 'spinning', cpuPercent: 3, says: '⚠ 12 s · no CPU' },
      { diagnosis: 'spinning', cpuPercent: 99, says: '⚠ 12 s · spinning' },
      { diagnosis: 'blocked', cpuPercent: 0, says: '⚠ 12 s · blocked' },
      { diagnosis: 'unknown', cpuPercent: 0, says: '⚠ silent 12 s' },
    ] as const;
    for (const [i, { diagnosis, cpuPercent, says }] of cases.entries()) {
      const id = String(i + 1);
      const stall = { taskId: id, silentForMs: 12_000, diagnosis, cpuPercent };
      store.upsertTask(snap(id, 'running', { stall }));
      const view = store.task(id)!;
      const row = rowText(view, false, tableLayout(80), view.stallSeenAt ?? Date.now());
      expect(row).toContain(says);
      expect(row).not.toContain('…');
    }
  });
});
