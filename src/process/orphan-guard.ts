/**
 * The orphan guard: a tiny /bin/sh process, in a session of its own, that holds
 * the read end of a pipe from the supervisor. The supervisor records every task
 * process group it starts ("+PGID") and every group that emptied ("-PGID") in a
 * registry file. When the supervisor's process ends in any way — exit, uncaught
 * throw, SIGKILL — the kernel closes the pipe, `read` sees EOF, and the guard
 * reads the registry and SIGKILLs every group still in it. This works for a
 * task stuck in a synchronous loop or a native call, because it needs nothing
 * from the task.
 *
 * Why a file and not lines on the pipe: every write to the pipe woke the guard,
 * which then read its line byte by byte (that is how sh's `read` works) while
 * the supervisor waited inside the write, for every task started and every
 * task ended. An append to a file wakes nobody. Where no
 * registry file can be made, the lines go over the pipe as before.
 *
 * Written for dash as well as bash: dash's kill takes "kill -9 -PGID" but not "--".
 *
 * Why a separate process: Linux's PR_SET_PDEATHSIG is not reachable from Node
 * without a native addon, and it would only cover the direct child anyway.
 * The guard ignores SIGINT/SIGTERM/SIGHUP so a Ctrl+C that hits the terminal's
 * process group cannot take it down before the supervisor.
 *
 * Limit: pid reuse between a group emptying and "-PGID" being recorded
 * (microseconds) could in theory let the guard signal a new group of the same id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { GUARD_NAME, openRegistry, type Registry } from './guard-registry.js';
import type { LineageMark } from './lineage.js';

// $1: the registry file ('' when there is none). Lines from the pipe and from the file mean the same.
// $2: what every value of the owner's lineage mark starts with, NAME=OWNER/ ('' for none).
// $3: the name prefix of the owner's task cgroups ('' for none); $4…: the directories they are in,
// the unified hierarchy's first.
const GUARD_SCRIPT = `
trap '' INT TERM HUP QUIT PIPE
registry="$1"; mark="$2"; cgroups="$3"
shift 3
groups=' '
apply() {
  case "$1" in
    +*) case "$groups" in *" \${1#+} "*) ;; *) groups="$groups\${1#+} " ;; esac ;;
    -*) id="\${1#-}"; case "$groups" in *" $id "*) groups="\${groups%% $id *} \${groups#* $id }" ;; esac ;;
  esac
}
while IFS= read -r line; do apply "$line"; done
# The task cgroups first: cgroup.kill ends everything inside at once, whatever its group or session.
if [ -n "$cgroups" ]; then
  for d in "$1/$cgroups"*; do [ -f "$d/cgroup.kill" ] && echo 1 2>/dev/null > "$d/cgroup.kill"; done
fi
if [ -n "$registry" ] && [ -f "$registry" ]; then
  while IFS= read -r line; do apply "$line"; done < "$registry"
  rm -f "$registry"
  rmdir "\${registry%/*}" 2>/dev/null
fi
for g in $groups; do
  case "$g" in ''|*[!0-9]*|0|1) continue ;; esac
  kill -9 "-$g" 2>/dev/null
  # A killed process must still be scheduled to exit: give its session its share back (tasks
  # run at idle priority). A redirect to /proc, no process started; fails quietly elsewhere.
  echo 0 2>/dev/null > "/proc/$g/autogroup"
done
# $2: the lineage mark. Its holders outside those groups (setsid, orphaned, spawned as the owner
# died) are found by their environment; again until a pass finds none (one may have forked).
# Only this owner's values: a new owner of the same state directory (after a crash) has the same
# name but another owner part.
if [ -n "$mark" ]; then
  pass=0
  while [ $pass -lt 5 ]; do
    found=''
    for f in $(grep -l -s -z -E "^$mark" /proc/[0-9]*/environ 2>/dev/null); do
      p="\${f#/proc/}"; p="\${p%/environ}"
      case "$p" in ''|*[!0-9]*|0|1) continue ;; esac
      kill -9 "$p" 2>/dev/null && found=1 && { echo 0 2>/dev/null > "/proc/$p/autogroup"; }
    done
    [ -n "$found" ] || break
    pass=$((pass + 1))
  done
fi
# Leave no cgroup behind: removable once its processes have exited (rmdir says EBUSY until then).
# Children first (a task's own supervisor made cgroups inside its cgroup).
if [ -n "$cgroups" ]; then
  tries=0
  while [ $tries -lt 40 ]; do
    left=''
    for parent in "$@"; do
      for d in "$parent/$cgroups"*; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || left=1
      done
    done
    [ -n "$left" ] || break
    sleep 0.05
    tries=$((tries + 1))
  done
fi
exit 0
`;

/** Past this size the registry is rewritten with the live groups only. */
const REGISTRY_COMPACT_BYTES = 256 * 1024;

export class OrphanGuard {
  #child: ChildProcess | undefined;
  readonly #groups = new Set<number>();
  #registry: Registry | undefined = openRegistry();
  #closed = false;
  #pending = '';

  readonly #markPrefix: string;
  readonly #cgroupArgs: string[];

  /**
   * `mark`: the owner's lineage mark; at the end the guard also kills every process that carries
   * it. A process being spawned when the owner dies holds a copy of the pipe's write end until it
   * has exec'd with the mark in its environment, so the guard's read cannot end before then: that
   * closes the window between fork and the owner registering the new group.
   */
  constructor(mark?: LineageMark, cgroups?: { prefix: string; parents: readonly string[] }) {
    this.#markPrefix = mark ? `${mark.name}=${mark.idleValue}` : '';
    this.#cgroupArgs = cgroups ? [cgroups.prefix, ...cgroups.parents] : [''];
    this.#spawn();
  }

  /** Pid of the guard process (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The registry file the guard reads when the pipe closes (diagnostics); undefined in pipe mode. */
  get registryPath(): string | undefined {
    return this.#registry?.path;
  }

  register(pgid: number): void {
    // Never let "kill -9 -1" (every process we may signal) or our own group into the list. Once each: a
    // prewarmed runner is registered by its pool, and again by the attempt that takes it.
    if (this.#closed || !Number.isInteger(pgid) || pgid <= 1 || this.#groups.has(pgid)) return;
    this.#groups.add(pgid);
    this.#record(`+${pgid}\n`);
  }

  unregister(pgid: number): void {
    if (!this.#groups.delete(pgid)) return;
    this.#record(`-${pgid}\n`);
  }

  /** Ends the guard: it kills whatever is still registered and marked, then exits (and removes the registry). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#flush();
    if (this.#registry) closeSync(this.#registry.fd);
    this.#child?.stdin?.end();
    this.#child?.unref();
  }

  #spawn(): void {
    const child = spawn(
      '/bin/sh',
      ['-c', GUARD_SCRIPT, GUARD_NAME, this.#registry?.path ?? '', this.#markPrefix, ...this.#cgroupArgs],
      {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
      },
    );
    child.unref();
    // The guard must not keep the supervisor's event loop alive.
    (child.stdin as unknown as { unref?: () => void })?.unref?.();
    child.stdin?.on('error', () => {});
    child.on('error', () => {});
    child.on('exit', () => {
      // Somebody killed the guard: start a new one. It reads the same registry; over the pipe it
      // needs every live group again.
      if (this.#closed) return;
      this.#child = undefined;
      this.#spawn();
      if (!this.#registry) for (const pgid of this.#groups) this.#write(`+${pgid}\n`);
    });
    this.#child = child;
  }

  #record(line: string): void {
    const registry = this.#registry;
    if (!registry) return this.#write(line);
    try {
      writeSync(registry.fd, line);
      registry.bytes += line.length;
      if (registry.bytes > REGISTRY_COMPACT_BYTES) this.#compact(registry);
    } catch {
      this.#fallBackToPipe(registry);
    }
  }

  /** Rewrites the registry with the live groups; the rename is atomic, so the guard reads one or the other. */
  #compact(registry: Registry): void {
    const lines = [...this.#groups].map((pgid) => `+${pgid}\n`).join('');
    writeFileSync(`${registry.path}.new`, lines, { mode: 0o600 });
    renameSync(`${registry.path}.new`, registry.path);
    closeSync(registry.fd);
    registry.fd = openSync(registry.path, 'a', 0o600);
    registry.bytes = lines.length;
  }

  /** The registry cannot be written (disk full?): remove it, so the guard never reads a stale one, and use the pipe. */
  #fallBackToPipe(registry: Registry): void {
    this.#registry = undefined;
    try {
      closeSync(registry.fd);
    } catch {
      // already closed
    }
    rmSync(registry.dir, { recursive: true, force: true });
    for (const pgid of this.#groups) this.#write(`+${pgid}\n`);
  }

  /** Pipe mode: lines are batched per tick, one write (one wake-up of the guard) for a burst of starts and stops. */
  #write(line: string): void {
    if (this.#pending === '') queueMicrotask(() => this.#flush());
    this.#pending += line;
  }

  #flush(): void {
    const lines = this.#pending;
    this.#pending = '';
    if (lines) this.#child?.stdin?.write(lines);
  }
}
