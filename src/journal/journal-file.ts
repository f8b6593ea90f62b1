/**
 * Opening `journal.db`: the file and its -wal/-shm private before SQLite touches them (SQLite
 * follows symlinks), the connection's settings (WAL, synchronous NORMAL), and the schema brought
 * up to date by its migrations, or a read-only connection that changes nothing.
 */
import { closeSync, constants, fchmodSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { checkPrivateFileIfExists, ensurePrivateDir, openPrivateFile } from '../daemon/safe-fs.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';

export const JOURNAL_FILE = 'journal.db';

export interface JournalOptions {
  /** How long a write waits for a lock held by another connection. Default 5000 ms. */
  busyTimeoutMs?: number;
}

export interface JournalDatabase {
  path: string;
  db: Database;
}

/**
 * Open (creating if needed) `journal.db` in dir. dir is created 0700 if
 * missing and must be private (see ensurePrivateDir); journal.db and its
 * -wal/-shm must be regular files of the current user, not symlinks, before
 * SQLite (which follows symlinks) opens them.
 */
export function openJournalDatabase(dir: string, options: JournalOptions = {}): JournalDatabase {
  ensurePrivateDir(dir);
  const path = join(dir, JOURNAL_FILE);
  createPrivateFile(path);
  for (const suffix of ['-wal', '-shm']) checkPrivateFileIfExists(path + suffix);
  let db: Database | undefined;
  try {
    db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
    configure(db, options.busyTimeoutMs ?? 5000);
    migrate(db, path);
    restrictSidecars(path);
    return { path, db };
  } catch (error) {
    db?.close();
    throw new Error(`cannot open the journal ${path}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/**
 * Open an existing journal for reading only: nothing is created, migrated or written. Undefined
 * when there is no journal in dir yet, or when it has another schema version (a daemon migrates
 * it; this reader does not).
 */
export function openJournalDatabaseReadOnly(dir: string, options: JournalOptions = {}): JournalDatabase | undefined {
  const path = join(dir, JOURNAL_FILE);
  try {
    lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  ensurePrivateDir(dir); // it exists: this checks it and creates nothing
  for (const suffix of ['', '-wal', '-shm']) checkPrivateFileIfExists(path + suffix);
  let db: Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: options.busyTimeoutMs ?? 5000 });
    if (db.pragma('user_version', { simple: true }) !== SCHEMA_VERSION) {
      db.close();
      return undefined;
    }
    return { path, db };
  } catch (error) {
    db?.close();
    throw new Error(`cannot read the journal ${path}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/**
 * Create the file 0600 before SQLite opens it: SQLite gives the -wal and -shm
 * files the database file's mode, so they are never readable by others either.
 */
function createPrivateFile(path: string): void {
  restrictFile(path, constants.O_CREAT);
}

/** Belt and braces for -wal/-shm that an older version or another tool created. */
function restrictSidecars(path: string): void {
  for (const suffix of ['-wal', '-shm']) {
    checkPrivateFileIfExists(path + suffix);
    try {
      restrictFile(path + suffix, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** chmod 0600 through a descriptor opened without following symlinks (openPrivateFile). */
function restrictFile(path: string, create: number): void {
  const fd = openPrivateFile(path, constants.O_RDWR | create, 0o600);
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

function configure(db: Database, busyTimeoutMs: number): void {
  // WAL: readers never block the writer and a commit is one append to the WAL file.
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`could not switch to WAL mode (got ${String(mode)})`);
  // synchronous=NORMAL: in WAL mode a commit is not fsynced, only checkpoints are.
  // A crash of the daemon (even SIGKILL) loses nothing: committed pages are in
  // the OS page cache. Only a power loss or kernel crash can lose the last few
  // commits, and never corrupts the database. FULL would fsync on every
  // transition and progress update, milliseconds each on the daemon's event loop.
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  db.pragma('foreign_keys = ON');
}

function migrate(db: Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `${path} has schema version ${version}, newer than this taskwarden supports (${SCHEMA_VERSION}); ` +
        'use a newer taskwarden or another state directory (--home)',
    );
  }
  for (let from = version; from < SCHEMA_VERSION; from++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[from]!);
      db.pragma(`user_version = ${from + 1}`);
    })();
  }
}
