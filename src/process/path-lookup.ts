/**
 * Finding a program the way execvp(3) does: a name with a "/" is a path (relative to cwd), any
 * other name is looked up in PATH's directories, in order; only an executable regular file
 * counts. One lookup for everyone who must say "not found" before the kernel would: the
 * supervisor, the CLI's `run`, and the daemon's check of a script's interpreter line.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/** The program's absolute path, or undefined when there is none to run. */
export function findProgram(
  command: string,
  pathVariable: string | undefined,
  cwd: string = process.cwd(),
): string | undefined {
  if (command.includes('/')) {
    const path = isAbsolute(command) ? command : resolve(cwd, command);
    return isExecutableFile(path) ? path : undefined;
  }
  for (const dir of (pathVariable ?? '').split(delimiter)) {
    if (!dir) continue;
    const path = join(dir, command);
    if (isExecutableFile(path)) return path;
  }
  return undefined;
}

export function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
