/**
 * Plain file operations on task log files, never through a symlink (openPrivateFile, lstat),
 * shared by the writer side (LogStore, AttemptLogFile) and the reader side (LogFollower).
 */
import { closeSync, constants, lstatSync, readFileSync, writeSync } from 'node:fs';
import { openPrivateFile } from '../daemon/safe-fs.js';

/** A log file's content; empty when it is not there. */
export function readIfExists(path: string): Buffer {
  try {
    const fd = openPrivateFile(path, constants.O_RDONLY);
    try {
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw error;
  }
}

export function writeAll(fd: number, data: Buffer): void {
  for (let offset = 0; offset < data.length;) offset += writeSync(fd, data, offset);
}

/** Size of a log file, 0 when it is not there. */
export function sizeIfExists(path: string): number {
  try {
    return lstatSync(path).size;
  } catch {
    return 0;
  }
}

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
