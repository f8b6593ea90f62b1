/**
 * The orphan guard: a tiny /bin/sh process, in a session of its own, that holds
 * the read end of a pipe from the supervisor. The supervisor registers every
 * task process group ("+PGID") and unregisters it once the group is empty
 * ("-PGID"). When the supervisor's process ends in any way — exit, uncaught
 * throw, SIGKILL — the kernel closes the pipe, `read` sees EOF, and the guard
 * SIGKILLs every registered group. This works for a task stuck in a
 * synchronous loop or a native call, because it needs nothing from the task.
 *
 * Written for dash as well as bash: dash's kill takes "kill -9 -PGID" but not "--".
 *
 * Why a separate process: Linux's PR_SET_PDEATHSIG is not reachable from Node
 * without a native addon, and it would only cover the direct child anyway.
 * The guard ignores SIGINT/SIGTERM/SIGHUP so a Ctrl+C that hits the terminal's
 * process group cannot take it down before the supervisor.
 *
 * Limit: pid reuse between a group emptying and "-PGID" arriving (microseconds)
 * could in theory let the guard signal a new group of the same id.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const GUARD_SCRIPT = `
trap '' INT TERM HUP QUIT PIPE
groups=' '
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups\${line#+} " ;;
    -*) id="\${line#-}"; case "$groups" in *" $id "*) groups="\${groups%% $id *} \${groups#* $id }" ;; esac ;;
  esac
done
for g in $groups; do
  case "$g" in ''|*[!0-9]*|0|1) continue ;; esac
  kill -9 "-$g" 2>/dev/null
done
exit 0
`;

export class OrphanGuard {
  #child: ChildProcess | undefined;
  readonly #groups = new Set<number>();
  #closed = false;

  constructor() {
    this.#spawn();
  }

  /** Pid of the guard process (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  register(pgid: number): void {
    // Never let "kill -9 -1" (every process we may signal) or our own group into the list.
    if (this.#closed || !Number.isInteger(pgid) || pgid <= 1) return;
    this.#groups.add(pgid);
    this.#write(`+${pgid}\n`);
  }

  unregister(pgid: number): void {
    if (!this.#groups.delete(pgid)) return;
    this.#write(`-${pgid}\n`);
  }

  /** Ends the guard: it kills whatever is still registered, then exits. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#flush();
    this.#child?.stdin?.end();
    this.#child?.unref();
  }

  #spawn(): void {
    const child = spawn('/bin/sh', ['-c', GUARD_SCRIPT], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.unref();
    // The guard must not keep the supervisor's event loop alive.
    (child.stdin as unknown as { unref?: () => void })?.unref?.();
    child.stdin?.on('error', () => {});
    child.on('error', () => {});
    child.on('exit', () => {
      // Somebody killed the guard: start a new one and hand it every live group.
      if (this.#closed) return;
      this.#child = undefined;
      this.#spawn();
      for (const pgid of this.#groups) this.#write(`+${pgid}\n`);
    });
    this.#child = child;
  }

  #pending = '';

  /** Lines are batched per tick: one write (one wake-up of the guard) for a burst of starts and stops. */
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
