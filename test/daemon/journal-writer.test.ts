/**
 * JournalWriter's rules, with writes that fail as SQLite fails them (an Error with a code):
 * held in order, coalesced progress, retried on a timer and before each new write, a write
 * that can never succeed dropped instead of stalling the rest. The daemon on a real full disk:
 * journal-health.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { JournalWriter } from '../../src/daemon/journal-writer.js';
import { waitFor } from '../helpers.js';

function sqliteError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

/** A "journal" that records writes and fails while `full` is set. */
function disk() {
  const state = { full: false, written: [] as string[] };
  const write = (what: string) => () => {
    if (state.full) throw sqliteError('SQLITE_FULL', 'database or disk is full');
    state.written.push(what);
  };
  return { state, write };
}

describe('JournalWriter', () => {
  it('holds failed writes in order, retries them on a timer, and reports the outage and its end', async () => {
    const { state, write } = disk();
    const log: string[] = [];
    let changes = 0;
    const writer = new JournalWriter({ log: (m) => log.push(m), onChange: () => changes++, retryMinMs: 20 });
    writer.write(write('a'));
    state.full = true;
    writer.write(write('b'), { taskId: '1' });
    writer.write(write('c'), { taskId: '2' });
    expect(writer.health()).toEqual({
      writable: false,
      failingSince: expect.any(Number),
      cause: 'ENOSPC',
      message: 'database or disk is full (SQLITE_FULL)',
      held: 2,
    });
    expect(changes).toBe(1);
    state.full = false;
    await waitFor(() => writer.health().writable, 5000, 'a retry to succeed');
    expect(state.written).toEqual(['a', 'b', 'c']);
    expect(writer.health()).toEqual({ writable: true, held: 0 });
    expect(changes).toBe(2);
    expect(log).toEqual([
      expect.stringMatching(/^journal: writes failing \(ENOSPC/),
      expect.stringMatching(/^journal: writable again/),
    ]);
    expect(writer.close()).toBe(0);
  });

  it('a new write first retries what is held, and goes after it', () => {
    const { state, write } = disk();
    const writer = new JournalWriter({ log: () => {}, onChange: () => {}, retryMinMs: 60_000 });
    state.full = true;
    writer.write(write('a'));
    state.full = false;
    writer.write(write('b'));
    expect(state.written).toEqual(['a', 'b']);
    expect(writer.health().writable).toBe(true);
    writer.close();
  });

  it('held progress of a task coalesces, but never jumps ahead of another held write of that task', () => {
    const { state, write } = disk();
    const writer = new JournalWriter({ log: () => {}, onChange: () => {}, retryMinMs: 60_000 });
    state.full = true;
    const progress = { taskId: '1', coalesce: 'progress:1' };
    writer.write(write('p1'), progress);
    writer.write(write('p2'), progress);
    writer.write(write('other task'), { taskId: '2' });
    writer.write(write('p3'), progress);
    writer.write(write('transition'), { taskId: '1' });
    writer.write(write('p4'), progress);
    writer.write(write('p5'), progress);
    expect(writer.health().held).toBe(4);
    state.full = false;
    expect(writer.flush()).toBe(true);
    expect(state.written).toEqual(['p3', 'other task', 'transition', 'p5']);
    writer.close();
  });

  it('a write that can never succeed is logged and dropped; it does not hold up the others', () => {
    const { state, write } = disk();
    const log: string[] = [];
    const writer = new JournalWriter({ log: (m) => log.push(m), onChange: () => {}, retryMinMs: 60_000 });
    writer.write(() => {
      throw sqliteError('SQLITE_CONSTRAINT_FOREIGNKEY', 'FOREIGN KEY constraint failed');
    });
    expect(writer.health()).toEqual({ writable: true, held: 0 });
    writer.write(write('next'));
    expect(state.written).toEqual(['next']);
    expect(log).toEqual(['journal write failed and was dropped: FOREIGN KEY constraint failed']);
    writer.close();
  });

  it('close() makes one last attempt and says how many writes are lost', () => {
    const { state, write } = disk();
    const writer = new JournalWriter({ log: () => {}, onChange: () => {}, retryMinMs: 60_000 });
    state.full = true;
    writer.write(write('a'));
    writer.write(write('b'));
    expect(writer.close()).toBe(2);
  });
});
