/**
 * File system checks for the state directory, as ssh and gpg do them.
 *
 * A daemon (often root's) writes, chmods and trusts what it finds in its state
 * directory, so nobody else may control that directory or anything on the way
 * to it:
 *
 * - the state directory must be owned by the current user and writable by
 *   nobody else (not by its group, not by others);
 * - every directory above it must be owned by the current user or root and
 *   not writable by others, unless it is sticky (like /tmp): otherwise its
 *   owner could rename the state directory away and put another in its place;
 * - a symlink on the way is followed only when the current user or root owns
 *   it (a symlink in /tmp can only be replaced by its owner);
 * - missing directories are created 0700, one at a time, each in a directory
 *   already checked; a directory that existed keeps its mode (a shared 1777
 *   directory is refused, never chmodded);
 * - files inside are opened with O_NOFOLLOW (a symlink fails with ELOOP) and
 *   must be regular files owned by the current user; temporary files are
 *   created with O_EXCL.
 *
 * Without geteuid (not a POSIX platform) the owner checks are skipped.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  type Stats,
} from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
/** A FIFO planted under a file's name must not block the open: it is refused after fstat instead. */
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const S_ISVTX = 0o1000;
const MAX_SYMLINKS = 40;
const WHAT_TO_DO = 'use a directory that you own and that only you can write to (--home DIR or TASKWARDEN_HOME)';

/** A path taskwarden will not use: it names the path, what is wrong and what to do. */
export class UnsafePathError extends Error {
  readonly code = 'UNSAFE_PATH';
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

function euid(): number | undefined {
  return process.geteuid?.();
}

function lstatIfExists(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function writableBy(mode: number): string | undefined {
  if (mode & 0o002) return 'others';
  if (mode & 0o020) return 'its group';
  return undefined;
}

/**
 * Makes sure `dir` is a directory only the current user controls, creating
 * what is missing (0700). Throws UnsafePathError, one line, otherwise.
 * `role` names it in the message ("state directory").
 */
export function ensurePrivateDir(dir: string, role = 'state directory'): void {
  const target = resolve(dir);
  const me = euid();
  const refuse = (why: string) =>
    new UnsafePathError(`taskwarden refuses the ${role} ${target}: ${why}; ${WHAT_TO_DO}`);
  const pending = target.split('/').filter(Boolean);
  let real = '/';
  let symlinks = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      real = dirname(real);
      continue;
    }
    const next = join(real, name);
    let stat = lstatIfExists(next);
    if (!stat) {
      // `real` is checked: only we (or root) can create or replace entries in it.
      stat = makeDir(next); // someone who raced us is caught by the checks below
    }
    if (stat.isSymbolicLink()) {
      if (me !== undefined && stat.uid !== me && stat.uid !== 0)
        throw refuse(`${next} is a symlink owned by uid ${stat.uid}, who could point it elsewhere`);
      if (++symlinks > MAX_SYMLINKS) throw refuse('too many levels of symlinks');
      const link = readlinkSync(next);
      if (isAbsolute(link)) real = '/';
      pending.unshift(...link.split('/').filter(Boolean));
      continue;
    }
    if (!stat.isDirectory()) throw refuse(next === target ? 'it is not a directory' : `${next} is not a directory`);
    if (pending.length > 0) checkParent(next, stat, me, refuse);
    real = next;
  }
  checkOwnDir(real, me, refuse, real === target ? 'it' : `${real} (where it leads)`);
}

/** A directory above the state directory: its owner could swap what is in it. */
function checkParent(path: string, stat: Stats, me: number | undefined, refuse: (why: string) => Error): void {
  if (me === undefined) return;
  if (stat.uid !== me && stat.uid !== 0)
    throw refuse(`its parent ${path} is owned by uid ${stat.uid}, who could replace what is in it`);
  const writer = writableBy(stat.mode);
  // Sticky (/tmp): others can add entries but not rename or remove ours.
  if (writer && !(stat.mode & S_ISVTX))
    throw refuse(`its parent ${path} is writable by ${writer} (mode ${octal(stat.mode)}) and not sticky`);
}

function checkOwnDir(path: string, me: number | undefined, refuse: (why: string) => Error, subject: string): void {
  const stat = lstatSync(path);
  if (me === undefined) return;
  if (stat.uid !== me)
    throw refuse(`${subject} is owned by uid ${stat.uid}, not by you (uid ${me}), so its owner can plant files in it`);
  const writer = writableBy(stat.mode);
  if (writer)
    throw refuse(`${subject} is writable by ${writer} (mode ${octal(stat.mode)}), who could plant files in it`);
}

/**
 * mkdir 0700; a directory we created gets exactly 0700 even under an odd umask
 * (one that existed before keeps its mode). Returns the lstat of what is there.
 */
function makeDir(path: string): Stats {
  let created = true;
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    created = false;
  }
  const stat = lstatSync(path);
  if (created && stat.isDirectory() && (stat.mode & 0o7777) !== 0o700) {
    chmodSync(path, 0o700);
    return lstatSync(path);
  }
  return stat;
}

/**
 * A directory inside a checked one (logs/): created 0700 when missing; an
 * existing one must be a real directory (not a symlink) owned by the current
 * user and writable by nobody else. Its mode is left as it is.
 */
export function ensurePrivateSubdir(path: string): void {
  const stat = lstatIfExists(path) ?? makeDir(path);
  const me = euid();
  const refuse = (why: string) =>
    new UnsafePathError(`taskwarden refuses ${path}: ${why}; remove it (taskwarden creates it again)`);
  if (stat.isSymbolicLink()) throw refuse('it is a symlink, and taskwarden follows none in its state directory');
  if (!stat.isDirectory()) throw refuse('it is not a directory');
  if (me !== undefined && stat.uid !== me) throw refuse(`it is owned by uid ${stat.uid}, not by you (uid ${me})`);
  const writer = writableBy(stat.mode);
  if (writer) throw refuse(`it is writable by ${writer} (mode ${octal(stat.mode)})`);
}

/**
 * open(2) of a file in the state directory that never follows a symlink: the
 * file must be a regular file owned by the current user. flags are fs.constants
 * O_* flags (add O_CREAT | O_EXCL to create a new file). Returns the descriptor.
 */
export function openPrivateFile(path: string, flags: number, mode = 0o600): number {
  let fd: number;
  try {
    fd = openSync(path, flags | O_NOFOLLOW | O_NONBLOCK, mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ELOOP: a symlink under O_NOFOLLOW. ENXIO: a FIFO nobody reads, opened for writing.
    if (code === 'ELOOP' || (code === 'ENXIO' && lstatIfExists(path)?.isFIFO()))
      throw unsafeFile(path, lstatIfExists(path));
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    const me = euid();
    if (!stat.isFile() || (me !== undefined && stat.uid !== me)) throw unsafeFile(path, stat);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/**
 * Checks, without opening it, that an entry of the state directory that
 * another program opens (SQLite's -wal and -shm) is absent or a regular file
 * owned by the current user.
 */
export function checkPrivateFileIfExists(path: string): void {
  const stat = lstatIfExists(path);
  if (!stat) return;
  const me = euid();
  if (!stat.isFile() || (me !== undefined && stat.uid !== me)) throw unsafeFile(path, stat);
}

function unsafeFile(path: string, stat: Stats | undefined): UnsafePathError {
  const me = euid();
  let why = 'it is not a regular file';
  if (stat?.isSymbolicLink()) why = 'it is a symlink, and taskwarden follows none in its state directory';
  else if (stat?.isFile() && me !== undefined && stat.uid !== me)
    why = `it is owned by uid ${stat.uid}, not by you (uid ${me})`;
  return new UnsafePathError(`taskwarden refuses ${path}: ${why}; remove it, or use another state directory (--home)`);
}

export { O_NOFOLLOW };
