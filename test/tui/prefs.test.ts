import { lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { filePrefs, PREFS_FILE } from '../../src/tui/prefs.js';

const dirs: string[] = [];
function home(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskwarden-prefs-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the UI’s remembered state (tui.json in the state directory)', () => {
  it('round-trips; nothing saved reads as nothing', () => {
    const dir = home();
    expect(filePrefs.load(dir)).toEqual({});
    filePrefs.save(dir, { clearedThrough: 1234 });
    expect(filePrefs.load(dir)).toEqual({ clearedThrough: 1234 });
    expect(lstatSync(path.join(dir, PREFS_FILE)).mode & 0o777).toBe(0o600);
  });

  it('a damaged file reads as nothing', () => {
    const dir = home();
    writeFileSync(path.join(dir, PREFS_FILE), '{"clearedThrough": ', { mode: 0o600 });
    expect(filePrefs.load(dir)).toEqual({});
    writeFileSync(path.join(dir, PREFS_FILE), '{"clearedThrough": "soon"}', { mode: 0o600 });
    expect(filePrefs.load(dir)).toEqual({});
  });

  it('never reads or writes through a symlink', () => {
    const dir = home();
    const elsewhere = path.join(home(), 'victim.json');
    writeFileSync(elsewhere, '{"clearedThrough": 99}');
    symlinkSync(elsewhere, path.join(dir, PREFS_FILE));
    expect(filePrefs.load(dir)).toEqual({});
    filePrefs.save(dir, { clearedThrough: 5 });
    expect(readFileSync(elsewhere, 'utf8')).toBe('{"clearedThrough": 99}');
    expect(lstatSync(path.join(dir, PREFS_FILE)).isSymbolicLink()).toBe(false);
    expect(filePrefs.load(dir)).toEqual({ clearedThrough: 5 });
  });
});
