import { describe, expect, it } from 'vitest';
import type { TaskSnapshot } from '../../src/supervisor/types.js';
import { fit, formatBytes, formatDuration, progressBar, stallText } from '../../src/tui/format.js';
import { actionFor, splitInput } from '../../src/tui/keys.js';
import { TuiStore, visibleRowCount } from '../../src/tui/store.js';

function snap(id: string, state: TaskSnapshot['state'] = 'running', extra: Partial<TaskSnapshot> = {}): TaskSnapshot {
  return { id, name: `task ${id}`, kind: 'module', spec: { module: '/x.js' }, state, attempt: 1, createdAt: 1000 + Number(id), ...extra };
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
    expect(store.clearFinished()).toBe(2);
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
    expect(formatDuration(14_200)).toBe('14 s');
    expect(formatDuration(185_000)).toBe('3 m 05 s');
    expect(formatBytes(50 * 2 ** 20)).toBe('50.0 MiB');
    expect(progressBar(0.5, 10)).toBe('█████     ');
    expect([...progressBar(0.33, 10)]).toHaveLength(10);
    expect(progressBar(1, 4)).toBe('████');
    expect(fit('abcdef', 4)).toBe('abc…');
    expect(fit('ab', 4, 'right')).toBe('  ab');
    expect(stallText({ taskId: '1', silentForMs: 14_000, diagnosis: 'spinning', cpuPercent: 99.6 })).toBe('no progress for 14 s · spinning at 100% CPU');
  });
});
