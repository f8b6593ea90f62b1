/**
 * The state directory ("home") of a daemon: journal.db, logs/, the socket, the
 * lock file and daemon.log all live here. One daemon serves one home.
 */
import os from 'node:os';
import { join, resolve } from 'node:path';
import { ensurePrivateDir } from './safe-fs.js';

export const SOCKET_FILE = 'daemon.sock';
export const LOCK_FILE = 'daemon.pid';
export const DAEMON_LOG_FILE = 'daemon.log';

/**
 * sun_path is 108 bytes on Linux, including the terminating NUL. Node reports
 * a longer path only as a cryptic EINVAL/ENAMETOOLONG from listen/connect.
 */
export const MAX_SOCKET_PATH_BYTES = 107;

export interface HomeOptions {
  /** Explicit state directory (the CLI's --home). */
  home?: string;
  /** Defaults to process.env; tests pass their own. */
  env?: NodeJS.ProcessEnv;
}

/** --home, else $TASKWARDEN_HOME, else $XDG_STATE_HOME/taskwarden, else ~/.local/state/taskwarden. Absolute. */
export function homePath(options: HomeOptions = {}): string {
  const env = options.env ?? process.env;
  if (options.home) return resolve(options.home);
  if (env.TASKWARDEN_HOME) return resolve(env.TASKWARDEN_HOME);
  if (env.XDG_STATE_HOME) return resolve(env.XDG_STATE_HOME, 'taskwarden');
  return join(os.homedir(), '.local', 'state', 'taskwarden');
}

/**
 * Resolves the state directory, creating it (and missing parents) with mode
 * 0700. Refuses, with an UnsafePathError naming the path, what is wrong and
 * what to do, a directory another user owns or can write to, or one reached
 * through a directory or symlink another user controls (see safe-fs.ts). An
 * existing directory keeps its mode: it is never chmodded.
 */
export function resolveHome(options: HomeOptions = {}): string {
  const home = homePath(options);
  ensurePrivateDir(home);
  return home;
}

/** The socket path of a home; throws a clear error when it would not fit in sun_path. */
export function socketPath(home: string): string {
  const path = join(home, SOCKET_FILE);
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `the socket path ${path} is ${bytes} bytes, longer than the ${MAX_SOCKET_PATH_BYTES} a Unix socket allows: ` +
        'use a shorter state directory (--home or TASKWARDEN_HOME)',
    );
  }
  return path;
}
