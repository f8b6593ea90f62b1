/**
 * How a task process gets into its cgroup before any task code runs.
 *
 * A command is started through a one-line /bin/sh that writes its own pid to
 * each of the cgroup's cgroup.procs and then execs the program: the program's
 * first instruction already runs inside, and so does everything it starts.
 * A runner (Node, ours) enters itself as the first thing it does, before it
 * loads any task module; the supervisor also moves it right after spawn, so
 * its boot already runs at the task's CPU priority.
 */
import { writeFileSync } from 'node:fs';

/** The runner learns the files to write its pid to from this variable (JSON array); it removes it at once. */
export const CGROUP_PROCS_ENV = 'TASKWARDEN_CGROUP_PROCS';

// $1…: cgroup.procs files up to "--", then the program and its arguments. Exit 125 names the cause.
const ENTER_SCRIPT =
  'while [ "$1" != -- ]; do echo $$ > "$1" || { echo "taskwarden: cannot enter the task cgroup ($1)" >&2; exit 125; }; shift; done; shift; exec "$@"';

/** file and args that run `file args` inside the cgroup whose procs files are given. */
export function enteringCommand(
  procsFiles: readonly string[],
  file: string,
  args: readonly string[],
): [string, string[]] {
  return ['/bin/sh', ['-c', ENTER_SCRIPT, 'taskwarden-enter', ...procsFiles, '--', file, ...args]];
}

/** Runner side: enter the cgroup named in the environment, if any. Throws when it cannot (the runner must not run uncontained). */
export function enterOwnCgroup(): void {
  const list = process.env[CGROUP_PROCS_ENV];
  if (list === undefined) return;
  Reflect.deleteProperty(process.env, CGROUP_PROCS_ENV);
  for (const file of JSON.parse(list) as string[]) writeFileSync(file, String(process.pid));
}
