import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogStore, type StoredLogLine } from '../../src/journal/index.js';
import type { LogLine } from '../../src/supervisor/types.js';
import { tmpfsHome } from '../daemon/helpers.js';

let dir: string;
const stores: LogStore[] = [];
const stops: (() => void)[] = [];

function store(options: ConstructorParameters<typeof LogStore>[1] = {}): LogStore {
  const created = new LogStore(dir, options);
  stores.push(created);
  return created;
}

function line(text: string, stream: LogLine['stream'] = 'stdout', taskId = '1', attempt = 1): LogLine {
  return { taskId, attempt, stream, line: text, at: Date.now() };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'taskwarden-logs-'));
});

afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  for (const created of stores.splice(0)) created.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('LogStore', () => {
  it('writes prefixed lines to logs/<task>.<attempt>.log with private permissions', () => {
    const logs = store();
    logs.append(line('hello'));
    logs.append(line('oops', 'stderr'));
    logs.append(line('two\nlines'));
    logs.flush();
    const path = join(dir, 'logs', '1.1.log');
    expect(logs.pathOf('1', 1)).toBe(path);
    expect(statSync(join(dir, 'logs')).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(logs.read('1', 1).lines).toEqual([
      { stream: 'stdout', line: 'hello' },
      { stream: 'stderr', line: 'oops' },
      { stream: 'stdout', line: 'two' },
      { stream: 'stdout', line: 'lines' },
    ]);
  });

  it('buffers appends and writes them within the flush interval', async () => {
    const logs = store({ flushIntervalMs: 20 });
    logs.append(line('later'));
    expect(existsSync(logs.pathOf('1', 1))).toBe(false);
    await until(() => existsSync(logs.pathOf('1', 1)));
  });

  it('read() flushes first, picks the latest attempt by default and takes a tail from a line boundary', () => {
    const logs = store();
    logs.append(line('first attempt', 'stdout', '1', 1));
    for (let i = 0; i < 10; i++) logs.append(line(`line ${i}`, 'stdout', '1', 2));
    expect(logs.attempts('1')).toEqual([1, 2]);
    expect(logs.read('1').attempt).toBe(2);
    expect(logs.read('1').lines).toHaveLength(10);
    // "[stdout] line 9\n" is 16 bytes: 20 bytes hold it whole and part of line 8, which is dropped.
    expect(logs.read('1', 2, 20).lines).toEqual([{ stream: 'stdout', line: 'line 9' }]);
    expect(logs.read('1', 2, 32).lines.map((l) => l.line)).toEqual(['line 8', 'line 9']);
    expect(logs.read('1', 2, 0).lines).toEqual([]);
  });

  it('read() of a task without logs', () => {
    expect(store().read('9')).toEqual({ attempt: null, lines: [] });
    expect(store().read('9', 3)).toEqual({ attempt: 3, lines: [] });
  });

  it('caps an attempt log and keeps the tail', () => {
    const logs = store({ maxBytesPerAttempt: 4096, flushBytes: 256 });
    const total = 2000;
    for (let i = 0; i < total; i++) logs.append(line(`line ${String(i).padStart(5, '0')}`));
    logs.flush();
    const path = logs.pathOf('1', 1);
    const kept = statSync(path).size + statSync(`${path}.1`).size;
    expect(kept).toBeLessThanOrEqual(4096);
    expect(kept).toBeGreaterThanOrEqual(2048 - 512); // at least half the cap, less one batch
    const lines = logs.read('1', 1).lines.map((l) => l.line);
    // The newest lines are kept, in order, with no gaps and no partial lines.
    expect(lines.at(-1)).toBe(`line ${String(total - 1).padStart(5, '0')}`);
    const numbers = lines.map((text) => Number(text.slice(5)));
    numbers.forEach((n, i) => expect(n).toBe(numbers[0] + i));
    expect(lines.every((text) => /^line \d{5}$/.test(text))).toBe(true);
  });

  it('cuts a very long line and marks it', () => {
    const logs = store({ maxLineBytes: 100 });
    logs.append(line('x'.repeat(1000)));
    const [stored] = logs.read('1', 1).lines;
    expect(stored?.line).toBe(`${'x'.repeat(100)}... [900 bytes cut]`);
  });

  it('rejects task ids that would leave the logs directory', () => {
    const onError = vi.fn();
    const logs = store({ onError });
    logs.append(line('evil', 'stdout', '../../etc/x'));
    expect(onError).toHaveBeenCalledWith(
      expect.objectContaining({ message: expect.stringContaining('invalid task id') }),
    );
    expect(() => logs.read('../x')).toThrow(/invalid task id/);
  });

  it('reports write errors without throwing', () => {
    const onError = vi.fn();
    const logs = store({ onError });
    rmSync(join(dir, 'logs'), { recursive: true });
    writeFileSync(join(dir, 'logs'), 'now a file');
    logs.append(line('lost'));
    expect(() => logs.flush()).not.toThrow();
    expect(onError).toHaveBeenCalled();
  });

  it('a new store never appends to a log it did not create: files another run left are set aside', () => {
    const previous = store({ maxBytesPerAttempt: 2048 });
    for (let i = 0; i < 40; i++) {
      previous.append(line(`from the previous daemon ${i}`));
      previous.flush(); // one write each: the file rotates, .log and .log.1
    }
    previous.close();
    expect(existsSync(join(dir, 'logs', '1.1.log.1'))).toBe(true);
    const notices: string[] = [];
    const logs = store({ maxBytesPerAttempt: 2048, onError: (error) => notices.push(error.message) });
    logs.append(line('from this one'));
    expect(logs.read('1', 1).lines.map((l) => l.line)).toEqual(['from this one']);
    const names = readdirSync(join(dir, 'logs')).sort();
    expect(names.filter((name) => /^1\.1\.log\.orphaned-\d+$/.test(name))).toHaveLength(1);
    expect(names.filter((name) => /^1\.1\.log\.1\.orphaned-\d+$/.test(name))).toHaveLength(1);
    expect(notices.join('\n')).toContain('was left by an earlier task with the same id and attempt');
    expect(logs.attempts('1')).toEqual([1]);
    expect(logs.highestTaskNumber()).toBe(1);
  });

  it('never writes or reads through a symlink in the logs directory', () => {
    const outside = join(dir, 'outside.txt');
    writeFileSync(outside, 'untouched\n');
    const logs = store();
    symlinkSync(outside, join(dir, 'logs', '7.1.log'));
    logs.append(line('mine', 'stdout', '7'));
    logs.flush();
    expect(readFileSync(outside, 'utf8')).toBe('untouched\n');
    expect(lstatSync(join(dir, 'logs', '7.1.log')).isFile()).toBe(true);
    symlinkSync(outside, join(dir, 'logs', '8.1.log'));
    expect(() => logs.read('8', 1)).toThrow(/8\.1\.log: it is a symlink/);
  });

  it('refuses a logs directory that is a symlink', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'taskwarden-elsewhere-'));
    try {
      symlinkSync(elsewhere, join(dir, 'logs'));
      expect(() => store()).toThrow(`taskwarden refuses ${join(dir, 'logs')}: it is a symlink`);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('LogStore.follow', () => {
  it('delivers existing lines, then appended ones', async () => {
    const logs = store({ flushIntervalMs: 5 });
    logs.append(line('before'));
    logs.flush();
    const seen: StoredLogLine[] = [];
    stops.push(logs.follow('1', 1, (l) => seen.push(l), { intervalMs: 10 }));
    expect(seen).toEqual([]); // never during follow() itself
    await until(() => seen.length === 1);
    expect(seen).toEqual([{ stream: 'stdout', line: 'before' }]);
    logs.append(line('after', 'stderr'));
    await until(() => seen.length === 2);
    expect(seen[1]).toEqual({ stream: 'stderr', line: 'after' });
  });

  it('fromStart false delivers only new lines; waits for a file that does not exist yet', async () => {
    const logs = store({ flushIntervalMs: 5 });
    const fresh: string[] = [];
    stops.push(logs.follow('2', 1, (l) => fresh.push(l.line), { intervalMs: 10 }));
    logs.append(line('old', 'stdout', '1'));
    logs.flush();
    const onlyNew: string[] = [];
    stops.push(logs.follow('1', 1, (l) => onlyNew.push(l.line), { intervalMs: 10, fromStart: false }));
    logs.append(line('new', 'stdout', '1'));
    logs.append(line('created later', 'stdout', '2'));
    await until(() => onlyNew.length === 1 && fresh.length === 1);
    expect(onlyNew).toEqual(['new']);
    expect(fresh).toEqual(['created later']);
  });

  it('holds back a partial line until its newline arrives', async () => {
    const logs = store();
    const path = logs.pathOf('3', 1);
    writeFileSync(path, '[stdout] hal');
    const seen: string[] = [];
    stops.push(logs.follow('3', 1, (l) => seen.push(l.line), { intervalMs: 10 }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toEqual([]);
    writeFileSync(path, '[stdout] half\n', { flag: 'w' });
    // Same inode, grown: the rest of the line arrives.
    await until(() => seen.length === 1);
    expect(seen).toEqual(['half']);
  });

  it('follows across rotations without losing or repeating lines', async () => {
    const logs = store({ maxBytesPerAttempt: 8192, flushBytes: 512 });
    const seen: string[] = [];
    stops.push(logs.follow('1', 1, (l) => seen.push(l.line), { intervalMs: 5 }));
    const total = 1500; // about 18 KiB: four rotations of 4 KiB halves
    for (let i = 0; i < total; i++) {
      logs.append(line(`n${i}`));
      if (i % 20 === 19) {
        logs.flush();
        await new Promise((resolve) => setTimeout(resolve, 15)); // slower than the poll: nothing skipped
      }
    }
    logs.flush();
    await until(() => seen.length >= total);
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => `n${i}`));
    expect(existsSync(`${logs.pathOf('1', 1)}.1`)).toBe(true);
  });

  it('from the start after rotations: the same lines as read()', async () => {
    const logs = store({ maxBytesPerAttempt: 2048, flushBytes: 128 });
    for (let i = 0; i < 500; i++) logs.append(line(`m${i}`));
    logs.flush();
    const seen: string[] = [];
    stops.push(logs.follow('1', 1, (l) => seen.push(l.line), { intervalMs: 5 }));
    const expected = logs.read('1', 1).lines.map((l) => l.line);
    expect(expected.at(-1)).toBe('m499');
    await until(() => seen.length >= expected.length);
    expect(seen).toEqual(expected);
  });

  it('can be stopped from inside onLine', async () => {
    const logs = store();
    for (let i = 0; i < 5; i++) logs.append(line(`s${i}`));
    logs.flush();
    const onError = vi.fn();
    const seen: string[] = [];
    const stop = logs.follow(
      '1',
      1,
      (l) => {
        seen.push(l.line);
        stop();
      },
      { onError, intervalMs: 5 },
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toEqual(['s0']);
    expect(onError).not.toHaveBeenCalled();
  });

  it('stops delivering after the returned function is called', async () => {
    const logs = store();
    const seen: string[] = [];
    const stop = logs.follow('1', 1, (l) => seen.push(l.line), { intervalMs: 5 });
    stop();
    logs.append(line('unseen'));
    logs.flush();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(seen).toEqual([]);
  });
});

describe('LogStore on a full disk', () => {
  it('never throws (not even when onError does), keeps whole lines, reports the first failure of a run, counts what it drops, says when writing works again', async () => {
    const disk = tmpfsHome(256);
    try {
      const errors: Error[] = [];
      const recovered: Array<{ since: number; droppedLines: number; error: Error }> = [];
      const logs = new LogStore(disk.home, {
        onError: (error) => {
          errors.push(error);
          throw new Error('the reporter cannot write either');
        },
        onRecover: (info) => recovered.push(info),
      });
      stores.push(logs);
      logs.append(line('before'));
      logs.flush();
      disk.fill();
      // Each line is larger than what is left of the file's last page: written in part, then ENOSPC.
      const big = 'x'.repeat(8192);
      for (let i = 0; i < 20; i++) {
        logs.append(line(`lost ${i} ${big}`));
        expect(() => logs.flush()).not.toThrow();
      }
      expect(errors).toHaveLength(1);
      expect((errors[0] as NodeJS.ErrnoException).code).toBe('ENOSPC');
      expect(logs.health()).toMatchObject({ writable: false, droppedLines: 20, failingSince: expect.any(Number) });
      // The partial writes were taken back: the file holds whole lines only.
      expect(readFileSync(logs.pathOf('1', 1), 'utf8')).toBe('[stdout] before\n');

      disk.free();
      let n = 0;
      await until(() => {
        logs.append(line(`after ${n++}`));
        logs.flush();
        return recovered.length > 0;
      }, 10_000);
      expect(recovered).toEqual([{ since: expect.any(Number), droppedLines: 20, error: errors[0] }]);
      expect(logs.health()).toEqual({ writable: true, droppedLines: 0 });
      expect(logs.read('1', 1).lines.map((l) => l.line)).toEqual([
        'before',
        ...Array.from({ length: n }, (_, i) => `after ${i}`),
      ]);
    } finally {
      disk.cleanup();
    }
  });
});
