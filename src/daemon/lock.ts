/**
 * One daemon per state directory: a lock file `daemon.pid` holding the owner's
 * pid and /proc start time.
 *
 * Taking it is atomic: the content is written to a private temporary file that
 * is then hard-linked to the lock name (link() fails with EEXIST if the name is
 * taken), so nobody ever reads a half-written lock. A lock whose owner is gone
 * (no such process, or the pid now belongs to a process with another start
 * time) is stale and replaced; that is what lets a new daemon start after a
 * SIGKILLed one.
 *
 * Limit: two daemons that find the same stale lock at the same instant could in
 * theory both replace it (the check and the unlink are two calls, microseconds
 * apart); the content is re-read just before the unlink to keep that window tiny.
 */
import { closeSync, constants, linkSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isSameLiveProcess, readProcStat } from '../process/proc.js';
import { LOCK_FILE } from './home.js';
import { openPrivateFile } from './safe-fs.js';

export interface LockOwner {
  pid: number;
  startTime: number | null;
}

export class DaemonRunningError extends Error {
  readonly code = 'DAEMON_RUNNING';
  constructor(
    readonly pid: number | undefined,
    readonly home: string,
  ) {
    super(
      `a taskwarden daemon${pid === undefined ? '' : ` (pid ${pid})`} already serves ${home}: use it, or stop it with "taskwarden shutdown --home ${home}"`,
    );
    this.name = 'DaemonRunningError';
  }
}

export interface DaemonLock {
  readonly path: string;
  release(): void;
}

/** Takes the lock of home for this process, or throws DaemonRunningError naming the live owner. */
export function acquireLock(home: string): DaemonLock {
  const path = join(home, LOCK_FILE);
  const content = JSON.stringify({
    pid: process.pid,
    startTime: readProcStat(process.pid)?.startTime ?? null,
  } satisfies LockOwner);
  for (let tries = 0; tries < 5; tries++) {
    if (tryLink(path, content)) return { path, release: () => unlinkIfContent(path, content) };
    const existing = readIfExists(path);
    if (existing === undefined) continue; // released between our link and our read
    const owner = parseOwner(existing);
    if (owner && isSameLiveProcess(owner.pid, owner.startTime ?? undefined)) {
      throw new DaemonRunningError(owner.pid, home);
    }
    unlinkIfContent(path, existing);
  }
  throw new Error(`could not take the daemon lock ${path}: it keeps changing; is another daemon starting? Try again`);
}

function tryLink(path: string, content: string): boolean {
  const temp = `${path}.${process.pid}.tmp`;
  writeNewFile(temp, content);
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}

/**
 * Creates temp with O_EXCL | O_NOFOLLOW: never writes through a symlink or into
 * a file that was there. One left there (by a crashed process that had our pid,
 * or planted) is unlinked, which removes the name, never what a symlink points to.
 */
function writeNewFile(temp: string, content: string): void {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
  let fd: number;
  try {
    fd = openPrivateFile(temp, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    unlinkSync(temp);
    fd = openPrivateFile(temp, flags);
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

/** The lock's content; never read through a symlink. */
function readIfExists(path: string): string | undefined {
  try {
    const fd = openPrivateFile(path, constants.O_RDONLY);
    try {
      return readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (!Number.isInteger(value.pid) || (value.pid as number) <= 0) return undefined;
    return { pid: value.pid as number, startTime: typeof value.startTime === 'number' ? value.startTime : null };
  } catch {
    return undefined; // unreadable: treated as stale
  }
}

/** Removes the lock only while it still holds `content`: never someone else's fresh lock. */
function unlinkIfContent(path: string, content: string): void {
  if (readIfExists(path) !== content) return;
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
