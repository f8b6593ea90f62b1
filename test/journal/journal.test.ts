import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JOURNAL_FILE, Journal, SCHEMA_VERSION } from '../../src/journal/index.js';
import type { TaskOutcome, TaskSnapshot, TaskState } from '../../src/supervisor/types.js';

let dir: string;
const open: Journal[] = [];

function openJournal(at = dir): Journal {
  const journal = Journal.open(at);
  open.push(journal);
  return journal;
}

function snapshot(id: string, state: TaskState, extra: Partial<TaskSnapshot> = {}): TaskSnapshot {
  return {
    id,
    name: `task ${id}`,
    kind: 'command',
    spec: { command: 'sleep', args: ['10'] },
    state,
    attempt: 1,
    createdAt: 1000 + (Number(id) || 0),
    ...extra,
  };
}

/** queued -> starting -> running, with spawn and progress, as the daemon would record it. */
function startTask(journal: Journal, id: string, pid: number): TaskSnapshot {
  journal.recordTask(snapshot(id, 'queued'));
  journal.recordTransition(snapshot(id, 'starting'), 'queued');
  journal.recordSpawn(id, 1, pid, 123_456 + pid);
  const running = snapshot(id, 'running', { pid, startedAt: 2000 });
  journal.recordTransition(running, 'starting');
  journal.recordProgress(id, 1, { fraction: 0.4, message: 'step 2/5' });
  return running;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'taskwarden-journal-'));
});

afterEach(() => {
  for (const journal of open.splice(0)) journal.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Journal.open', () => {
  it('creates the schema in WAL mode with private files', () => {
    const home = join(dir, 'home');
    const journal = openJournal(home);
    startTask(journal, '1', 111);
    const path = join(home, JOURNAL_FILE);
    expect(journal.path).toBe(path);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) expect(statSync(file).mode & 0o777).toBe(0o600);

    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      const tables = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
      expect(tables).toEqual([{ name: 'attempts' }, { name: 'tasks' }, { name: 'transitions' }]);
    } finally {
      raw.close();
    }
  });

  it('uses synchronous=NORMAL, a busy timeout and foreign keys', () => {
    // Pragmas are per connection, so they are read back through the journal's own connection.
    expect(openJournal().settings()).toEqual({
      journalMode: 'wal',
      synchronous: 'normal',
      busyTimeoutMs: 5000,
      foreignKeys: true,
      schemaVersion: SCHEMA_VERSION,
    });
  });

  it('reopens an existing journal without migrating again', () => {
    openJournal().close();
    expect(() => openJournal().close()).not.toThrow();
  });

  it('refuses a journal from a newer schema with a clear message', () => {
    openJournal().close();
    const raw = new Database(join(dir, JOURNAL_FILE));
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => openJournal()).toThrow(/schema version 99, newer than this taskwarden supports \(1\)/);
  });

  it('refuses a file that is not a database', () => {
    writeFileSync(
      join(dir, JOURNAL_FILE),
      'not a database, just text that is long enough to look like a header '.repeat(20),
    );
    expect(() => openJournal()).toThrow(/cannot open the journal .*journal\.db/);
  });
});

describe('recording', () => {
  it('keeps tasks, attempts and transitions across close and reopen', () => {
    const journal = openJournal();
    startTask(journal, '1', 4242);
    journal.recordTransition(
      snapshot('1', 'completed', {
        pid: 4242,
        startedAt: 2000,
        endedAt: 5000,
        progress: { fraction: 1 },
        outcome: {
          state: 'completed',
          result: { answer: 42 },
          exitCode: 0,
          signal: null,
          durationMs: 3000,
          attempt: 1,
        },
      }),
      'running',
    );
    journal.close();

    const record = openJournal().getTask('1');
    expect(record?.task).toMatchObject({
      id: '1',
      state: 'completed',
      attempt: 1,
      pid: 4242,
      spec: { command: 'sleep', args: ['10'] },
      progress: { fraction: 1 },
      startedAt: 2000,
      endedAt: 5000,
      outcome: { state: 'completed', result: { answer: 42 }, exitCode: 0, signal: null, durationMs: 3000, attempt: 1 },
    });
    expect(record?.attempts).toHaveLength(1);
    expect(record?.attempts[0]).toMatchObject({
      attempt: 1,
      state: 'completed',
      pid: 4242,
      procStartTime: 127_698,
      exitCode: 0,
    });
    expect(record?.transitions.map((t) => [t.from, t.to])).toEqual([
      [null, 'queued'],
      ['queued', 'starting'],
      ['starting', 'running'],
      ['running', 'completed'],
    ]);
    expect(record?.transitions[3]?.detail).toMatchObject({ pid: 4242, exitCode: 0, signal: null });
  });

  it('stores error, signal, stop reason and escalation of a killed attempt', () => {
    const killedOutcome: TaskOutcome = {
      state: 'killed',
      exitCode: null,
      signal: 'SIGKILL',
      stopReason: 'cancel',
      escalated: true,
      error: { name: 'Killed', message: 'grace period expired', code: 'GRACE_EXPIRED' },
      durationMs: 1000,
      attempt: 1,
    };
    const journal = openJournal();
    startTask(journal, '1', 10);
    journal.recordTransition(
      snapshot('1', 'killed', {
        endedAt: 3000,
        stopReason: 'cancel',
        outcome: killedOutcome,
      }),
      'cancelling',
    );
    const record = openJournal().getTask('1')!;
    expect(record.task.outcome).toEqual(killedOutcome);
    expect(record.transitions.at(-1)).toMatchObject({
      from: 'cancelling',
      to: 'killed',
      detail: { signal: 'SIGKILL', escalated: true, stopReason: 'cancel', error: { code: 'GRACE_EXPIRED' } },
    });
  });

  it('a restart closes the previous attempt, as the state event says it ended, and starts a new one', () => {
    const journal = openJournal();
    startTask(journal, '1', 10);
    const ended: TaskOutcome = {
      state: 'killed',
      stopReason: 'restart',
      signal: 'SIGKILL',
      durationMs: 700,
      attempt: 1,
    };
    journal.recordTransition(snapshot('1', 'starting', { attempt: 2 }), 'killing', Date.now(), ended);
    journal.recordSpawn('1', 2, 11, 99);
    journal.recordTransition(snapshot('1', 'running', { attempt: 2, pid: 11 }), 'starting');
    const record = journal.getTask('1')!;
    expect(record.task).toMatchObject({ state: 'running', attempt: 2, pid: 11 });
    expect(record.task.progress).toBeUndefined(); // progress belongs to attempt 1
    expect(record.attempts.map((a) => [a.attempt, a.state, a.stopReason])).toEqual([
      [1, 'killed', 'restart'],
      [2, 'running', undefined],
    ]);
    expect(record.attempts[0]).toMatchObject({ signal: 'SIGKILL', durationMs: 700 });
    expect(record.attempts[0]?.progress).toEqual({ fraction: 0.4, message: 'step 2/5' });
  });

  it('a failing transition leaves nothing behind (one transaction)', () => {
    const journal = openJournal();
    const bad = { ...snapshot('5', 'running'), kind: 'bogus' } as unknown as TaskSnapshot;
    expect(() => journal.recordTransition(bad, 'starting')).toThrow();
    expect(journal.getTask('5')).toBeUndefined();
    expect(journal.listTasks({ includeFinished: true })).toEqual([]);
  });

  it('progress and spawn for an unknown task are ignored', () => {
    const journal = openJournal();
    expect(journal.recordProgress('nope', 1, { fraction: 0.5 })).toBe(false);
    expect(journal.recordSpawn('nope', 1, 5, 5)).toBe(false);
  });

  it('recordTask twice does not duplicate the creation transition', () => {
    const journal = openJournal();
    journal.recordTask(snapshot('1', 'queued'));
    journal.recordTask(snapshot('1', 'queued', { name: 'renamed' }));
    const record = journal.getTask('1')!;
    expect(record.task.name).toBe('renamed');
    expect(record.transitions).toHaveLength(1);
  });
});

describe('queries', () => {
  it('listTasks shows active tasks by default, all with includeFinished, the newest with limit', () => {
    const journal = openJournal();
    journal.recordTask(snapshot('1', 'queued'));
    journal.recordTask(snapshot('2', 'queued'));
    journal.recordTransition(snapshot('2', 'completed', { endedAt: 3000 }), 'queued');
    journal.recordTask(snapshot('3', 'queued'));
    expect(journal.listTasks().map((t) => t.id)).toEqual(['1', '3']);
    expect(journal.listTasks({ includeFinished: true }).map((t) => t.id)).toEqual(['1', '2', '3']);
    expect(journal.listTasks({ includeFinished: true, limit: 2 }).map((t) => t.id)).toEqual(['2', '3']);
    expect(journal.listTasks({ includeFinished: true, limit: 0 })).toEqual([]);
  });

  it('history lists finished tasks, most recently ended first', () => {
    const journal = openJournal();
    const ends: Record<string, number> = { '1': 5000, '2': 3000, '3': 9000, '4': 7000 };
    for (const [id, endedAt] of Object.entries(ends)) {
      journal.recordTask(snapshot(id, 'queued'));
      journal.recordTransition(snapshot(id, 'failed', { endedAt }), 'queued');
    }
    journal.recordTask(snapshot('5', 'running'));
    expect(journal.history().map((t) => t.id)).toEqual(['3', '4', '1', '2']);
    expect(journal.history(2).map((t) => t.id)).toEqual(['3', '4']);
  });

  it('getTask of an unknown id is undefined', () => {
    expect(openJournal().getTask('404')).toBeUndefined();
  });

  it('nextTaskId continues after the highest id, across restarts', () => {
    let journal = openJournal();
    expect(journal.nextTaskId()).toBe('1');
    expect(journal.nextTaskId()).toBe('2');
    journal.recordTask(snapshot('7', 'queued')); // an id from elsewhere moves the counter on
    expect(journal.nextTaskId()).toBe('8');
    journal.recordTask(snapshot('custom-id', 'queued'));
    journal.close();
    journal = openJournal();
    expect(journal.nextTaskId()).toBe('8'); // 8 was handed out but never recorded: only recorded ids persist
    journal.recordTask(snapshot('8', 'queued'));
    journal.close();
    expect(openJournal().nextTaskId()).toBe('9');
  });
});

describe('recovery', () => {
  it('unfinished() finds running tasks with pid and start time after a crash (no close)', () => {
    const crashed = Journal.open(dir); // never closed: the daemon died
    startTask(crashed, '1', 301);
    startTask(crashed, '2', 302);
    crashed.recordTransition(snapshot('2', 'completed', { endedAt: 9000 }), 'running');
    crashed.recordTask(snapshot('3', 'queued', { attempt: 0 }));

    // The files as a SIGKILLed daemon leaves them: database and WAL, no clean checkpoint.
    // The -shm index is left out, so SQLite must rebuild it from the WAL.
    const image = join(dir, 'after-crash');
    mkdirSync(image);
    copyFileSync(join(dir, JOURNAL_FILE), join(image, JOURNAL_FILE));
    copyFileSync(join(dir, `${JOURNAL_FILE}-wal`), join(image, `${JOURNAL_FILE}-wal`));

    for (const journal of [openJournal(image), openJournal(dir)]) {
      const unfinished = journal.unfinished();
      expect(unfinished.map((u) => [u.task.id, u.task.state, u.pid, u.procStartTime])).toEqual([
        ['1', 'running', 301, 123_757],
        ['3', 'queued', null, null],
      ]);
      expect(unfinished[0]?.task.progress).toEqual({ fraction: 0.4, message: 'step 2/5' });
    }
    crashed.close();
  });

  it('markInterrupted keeps the last progress and records why', () => {
    let journal = openJournal();
    startTask(journal, '1', 301);
    journal.close();
    journal = openJournal();
    const interrupted = journal.markInterrupted('1', { processKilled: true });
    expect(interrupted).toMatchObject({
      id: '1',
      state: 'interrupted',
      progress: { fraction: 0.4, message: 'step 2/5' },
      outcome: { state: 'interrupted', attempt: 1, error: { name: 'Interrupted', code: 'INTERRUPTED' } },
    });
    expect(interrupted?.endedAt).toBeTypeOf('number');
    expect(journal.unfinished()).toEqual([]);
    expect(journal.history().map((t) => t.id)).toEqual(['1']);
    const last = journal.getTask('1')!.transitions.at(-1);
    expect(last).toMatchObject({ from: 'running', to: 'interrupted', detail: { processKilled: true } });
    expect(journal.markInterrupted('1')).toBeUndefined(); // already finished
    expect(journal.markInterrupted('404')).toBeUndefined();
  });
});
