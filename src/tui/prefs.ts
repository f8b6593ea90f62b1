/**
 * What the UI keeps between sessions, per state directory: which finished rows were cleared (c),
 * so that they stay cleared when the UI is opened again. One small JSON file in the state
 * directory (tui.json), written like the daemon's own files: never through a symlink, replaced
 * atomically.
 */
import { closeSync, constants, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { openPrivateFile } from '../daemon/safe-fs.js';

export interface UiPrefs {
  /** Rows of tasks that ended at or before this time (ms, the daemon's clock) are cleared. */
  clearedThrough?: number;
}

export interface PrefsStore {
  load(home: string): UiPrefs;
  save(home: string, prefs: UiPrefs): void;
}

export const PREFS_FILE = 'tui.json';

function parse(text: string): UiPrefs {
  const raw = JSON.parse(text) as unknown;
  if (typeof raw !== 'object' || raw === null) return {};
  const clearedThrough = (raw as { clearedThrough?: unknown }).clearedThrough;
  return typeof clearedThrough === 'number' && Number.isFinite(clearedThrough) ? { clearedThrough } : {};
}

/** The file in the state directory; a missing or unreadable file is no preferences. */
export const filePrefs: PrefsStore = {
  load(home) {
    const file = path.join(home, PREFS_FILE);
    let fd: number;
    try {
      fd = openPrivateFile(file, constants.O_RDONLY);
    } catch {
      return {};
    }
    try {
      return parse(readFileSync(fd, 'utf8'));
    } catch {
      return {};
    } finally {
      closeSync(fd);
    }
  },
  save(home, prefs) {
    const file = path.join(home, PREFS_FILE);
    const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
    const fd = openPrivateFile(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeSync(fd, `${JSON.stringify(prefs)}\n`);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(temp, file);
    } catch (error) {
      try {
        unlinkSync(temp);
      } catch {
        // gone already
      }
      throw error;
    }
  },
};

/** In memory, for tests. */
export function memoryPrefs(initial: Record<string, UiPrefs> = {}): PrefsStore & { saved: Record<string, UiPrefs> } {
  const saved = { ...initial };
  return {
    saved,
    load: (home) => ({ ...(saved[home] ?? {}) }),
    save: (home, prefs) => {
      saved[home] = { ...prefs };
    },
  };
}

/** When the rows cleared in an earlier session ended (undefined: none, or nothing readable). */
export function recalledClearedThrough(prefs: PrefsStore, home: string): number | undefined {
  try {
    return prefs.load(home).clearedThrough;
  } catch {
    return undefined;
  }
}

/** Remembers that rows of tasks ended by `through` are cleared (never forgetting a later time). Throws when it cannot write. */
export function rememberClearedThrough(prefs: PrefsStore, home: string, through: number): void {
  const saved = prefs.load(home);
  prefs.save(home, { ...saved, clearedThrough: Math.max(saved.clearedThrough ?? through, through) });
}
