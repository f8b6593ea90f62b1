/**
 * Starting a daemon in the background: a detached process (its own session,
 * so a Ctrl+C or a closed terminal does not reach it) running the daemon's
 * own entry (entry.ts) in the foreground, with stdout/stderr appended to
 * `<home>/daemon.log`. Returns once the socket answers.
 *
 * Two front ends that autostart at the same moment both spawn a daemon; the
 * lock lets one win, the other exits with "already serves", and both front
 * ends connect to the winner.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, fstatSync, lstatSync, readSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SupervisorOptions } from '../supervisor/options.js';
import { DAEMON_LOG_FILE } from './home.js';
import { openPrivateFile } from './safe-fs.js';

/** The background daemon's process (entry.ts, compiled). */
const DAEMON_ENTRY_PATH = fileURLToPath(new URL('./entry.js', import.meta.url));

/** daemon.log is kept below this size: at each start a larger one moves to daemon.log.1. */
const MAX_DAEMON_LOG_BYTES = 1024 * 1024;

export interface BackgroundOptions {
  home: string;
  /** For the daemon's Supervisor (e.g. `taskwarden daemon --concurrency 4`). */
  supervisorOptions?: SupervisorOptions;
  timeoutMs?: number;
  /** True once a daemon answers on the socket. */
  probe(): Promise<boolean>;
}

export async function startBackgroundDaemon(options: BackgroundOptions): Promise<{ pid: number | undefined }> {
  const logPath = join(options.home, DAEMON_LOG_FILE);
  rotateLog(logPath);
  // Never through a symlink, never into a file another user owns.
  const fd = openPrivateFile(logPath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  const logStart = fstatSync(fd).size;
  const entryOptions = {
    home: options.home,
    ...(options.supervisorOptions ? { supervisorOptions: options.supervisorOptions } : {}),
  };
  const child = spawn(process.execPath, [DAEMON_ENTRY_PATH, JSON.stringify(entryOptions)], {
    detached: true,
    stdio: ['ignore', fd, fd],
    cwd: options.home,
  });
  closeSync(fd);
  child.unref();
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  child.once('error', () => (exited = -1));
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (let delay = 20; Date.now() < deadline; delay = Math.min(delay * 2, 200)) {
    if (await options.probe()) return { pid: child.pid };
    // It exited: either it failed, or another daemon won the race (the probe then answers).
    if (exited !== undefined) {
      if (await options.probe()) return { pid: undefined };
      throw new Error(
        `the taskwarden daemon for ${options.home} did not start (exit code ${exited}): ${logTail(logPath, logStart)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  throw new Error(
    `the taskwarden daemon for ${options.home} did not answer within ${options.timeoutMs ?? 15_000} ms; see ${logPath}`,
  );
}

function rotateLog(path: string): void {
  try {
    if (lstatSync(path).size > MAX_DAEMON_LOG_BYTES) renameSync(path, `${path}.1`);
  } catch {
    // No log yet.
  }
}

/** What the failed daemon wrote, as one line for the error message. */
function logTail(path: string, from: number): string {
  try {
    const fd = openPrivateFile(path, constants.O_RDONLY);
    try {
      const size = fstatSync(fd).size;
      const start = Math.max(from, size - 2000);
      const buffer = Buffer.alloc(size - start);
      readSync(fd, buffer, 0, buffer.length, start);
      const text = buffer.toString('utf8').trim().split('\n').slice(-3).join(' | ');
      return text || `nothing in ${path}`;
    } finally {
      closeSync(fd);
    }
  } catch {
    return `see ${path}`;
  }
}
