/**
 * The contenders, each driven the way its documentation recommends, behind one small
 * interface so that every scenario runs the same steps for all of them.
 *
 * What "stop" means per contender (the documented API, nothing home-made):
 *  - taskwarden: task.kill() (SIGKILL to the group), task.cancel() (abort signal + SIGTERM, SIGKILL after graceMs), stopAll().
 *  - child_process: fork(); kill('SIGKILL'), kill() (SIGTERM; no escalation exists), kill() on each for "all".
 *  - execa: execaNode() with cancelSignal + gracefulCancel + forceKillAfterDelay; subprocess.kill('SIGKILL') to force.
 *    execa 9.6 has no option to kill descendants (the subprocess's own children stay).
 *  - workerpool (workerType 'process'): promise.cancel() (the only stop; abort listeners make it cooperative),
 *    pool.terminate(true) for "all"; escalation after workerTerminateTimeout (default 1 s).
 *  - tinypool (runtime 'child_process', isolateWorkers): AbortSignal -> SIGTERM, SIGKILL 1 s later (fixed); destroy() for "all".
 *  - piscina (worker threads: not isolated, the speed reference): AbortSignal -> Worker.terminate(); destroy() for "all".
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { epochNow } from './beacons.js';

// Each library is imported only when its contender is created, so that an owner process
// (scenarios 7 and 8) carries its own contender and nothing else.

const worker = (name: string) => fileURLToPath(new URL(`../../../bench/peers/workers/${name}`, import.meta.url));
export const WORKERS = {
  proc: worker('proc-task.mjs'),
  workerpool: worker('workerpool-worker.mjs'),
  tinypool: worker('tinypool-worker.mjs'),
  piscina: worker('piscina-worker.mjs'),
  taskwarden: worker('taskwarden-task.mjs'),
};

export type Mode = 'noop' | 'echo' | 'spin' | 'grandchild' | 'ignore' | 'coop';

export interface TaskInput {
  mode: Mode;
  beacon: string;
  tag: string;
}

export interface RunnerConfig {
  /** Tasks running at once (pool size). */
  concurrency: number;
  /** Keep one process/thread ready where offered; undefined: the contender's default. */
  prewarm?: boolean;
  /** Grace before SIGKILL where offered; undefined: the contender's default. */
  graceMs?: number;
}

export interface Settled {
  /** Epoch ms at which the caller's promise (or exit event) settled. */
  at: number;
  /** Whether the task delivered its result. */
  ok: boolean;
  /** Why not, in a few words (for the notes). */
  why?: string;
}

export interface TaskHandle {
  /** Resolves (never rejects) when the caller's promise or exit event settles. */
  settled: Promise<Settled>;
  /** The contender's most forceful documented stop for one task. */
  kill(): void;
  /** The contender's documented graceful cancel for one task. */
  cancel(): void;
}

export interface Runner {
  start(input: TaskInput): TaskHandle;
  /** The contender's way to stop everything at once; resolves when it says it is done. */
  stopAll(): Promise<void>;
  /** Releases the pool / supervisor and whatever it keeps ready. */
  close(): Promise<void>;
  /** Resolves once whatever the runner keeps ready has booted, where the contender says so (taskwarden's warm()). */
  ready?(): Promise<void>;
  /** Threads only: resolves with the epoch time the thread running a task exited. */
  threadExit?(threadId: number): Promise<Settled> | undefined;
}

export interface Contender {
  name: string;
  /** What one task gets to itself. */
  isolation: string;
  threads: boolean;
  /** Workers outlive a task (a pool reuses them): after a cooperative cancel nothing is meant to be gone. */
  reusesWorkers: boolean;
  offersPrewarm: boolean;
  /** A grace period before SIGKILL that the user can set. */
  offersGrace: boolean;
  /** What cancel does with a task that ignores it, with default settings. */
  defaultEscalation: string;
  /** Whether a cooperative task gets to run its cleanup on cancel. */
  cooperative: boolean;
  /** The scenarios it takes part in, where not all (a variant of another contender). */
  scenarios?: readonly string[];
  create(config: RunnerConfig): Promise<Runner>;
}

const brief = (value: unknown): string => {
  const text = value instanceof Error ? `${value.name}: ${value.message}` : (JSON.stringify(value) ?? String(value));
  return text.length > 160 ? `${text.slice(0, 160)}...` : text;
};

const settledAt = (p: PromiseLike<unknown>, ok: (value: unknown) => boolean = () => true): Promise<Settled> =>
  Promise.resolve(p).then(
    (value) => (ok(value) ? { at: epochNow(), ok: true } : { at: epochNow(), ok: false, why: brief(value) }),
    (error: unknown) => ({ at: epochNow(), ok: false, why: brief(error) }),
  );

// ---- taskwarden ---------------------------------------------------------------------------

/** taskwarden; with `reuse`, module tasks run on reusable runners (spec.reuse: true). */
function taskwardenContender(reuse: boolean): Contender {
  return {
    name: reuse ? 'taskwarden reuse' : 'taskwarden',
    isolation: reuse
      ? 'a runner process reused for the next task of the module after one that completed and left nothing behind (spec.reuse); its own process group or cgroup'
      : 'one process group per task (fresh runner process, never reused)',
    threads: false,
    reusesWorkers: reuse,
    offersPrewarm: true,
    offersGrace: true,
    defaultEscalation: 'abort signal + SIGTERM to the group, SIGKILL after graceMs (default 3 s)',
    cooperative: true,
    ...(reuse ? { scenarios: ['6'] } : {}),
    async create(config) {
      const { Supervisor } = await import('../../src/index.js');
      const sup = new Supervisor({
        // The documented way to prewarm for a known task module (tinypool's workers import theirs at boot too).
        preload: [WORKERS.taskwarden],
        // For experiments only (e.g. '{"nice":0}'); the published table uses the defaults.
        ...(process.env.PEERS_TASKWARDEN_OPTIONS ? (JSON.parse(process.env.PEERS_TASKWARDEN_OPTIONS) as object) : {}),
        concurrency: config.concurrency,
        ...(config.prewarm !== undefined ? { prewarm: config.prewarm ? 1 : 0 } : {}),
        ...(config.graceMs !== undefined ? { graceMs: config.graceMs } : {}),
      });
      return {
        start(input) {
          const task = sup.start({ module: WORKERS.taskwarden, input, ...(reuse ? { reuse: true } : {}) });
          return {
            settled: settledAt(task.done, (o) => (o as { state: string }).state === 'completed'),
            kill: () => task.kill(),
            cancel: () => task.cancel(),
          };
        },
        async stopAll() {
          await sup.stopAll();
        },
        async close() {
          await sup.shutdown();
        },
        ready: () => sup.warm(),
      };
    },
  };
}

const taskwarden = taskwardenContender(false);

// ---- bare child_process ---------------------------------------------------------------------

const childProcess: Contender = {
  name: 'child_process',
  isolation: 'one process per task (fork)',
  threads: false,
  reusesWorkers: false,
  offersPrewarm: false,
  offersGrace: false,
  defaultEscalation: 'kill() sends SIGTERM once; nothing escalates',
  cooperative: true,
  async create() {
    const live = new Set<ChildProcess>();
    return {
      start(input) {
        const child = fork(WORKERS.proc, [JSON.stringify(input)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        live.add(child);
        let result: unknown;
        child.once('message', (message) => (result = message));
        // 'close', not 'exit': the result message may arrive after 'exit', never after 'close'.
        const exited = once(child, 'close').finally(() => live.delete(child));
        child.on('error', () => {});
        return {
          settled: settledAt(exited, (v) => (v as [number | null])[0] === 0 && result === input.tag),
          kill: () => child.kill('SIGKILL'),
          cancel: () => child.kill(),
        };
      },
      async stopAll() {
        const exits = [...live].map((child) =>
          child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'close'),
        );
        for (const child of live) child.kill();
        await Promise.all(exits);
      },
      async close() {
        for (const child of live) child.kill('SIGKILL');
      },
    };
  },
};

// ---- execa ----------------------------------------------------------------------------------

const execa: Contender = {
  name: 'execa',
  isolation: 'one process per task (execaNode)',
  threads: false,
  reusesWorkers: false,
  offersPrewarm: false,
  offersGrace: true,
  defaultEscalation:
    'cancelSignal (gracefulCancel: abort in the subprocess), SIGKILL after forceKillAfterDelay (default 5 s); descendants are not killed',
  cooperative: true,
  async create(config) {
    const { execaNode } = await import('execa');
    const live = new Set<{ controller: AbortController; done: Promise<unknown> }>();
    return {
      start(input) {
        const controller = new AbortController();
        const subprocess = execaNode(WORKERS.proc, [JSON.stringify({ ...input, execaGraceful: true })], {
          cancelSignal: controller.signal,
          gracefulCancel: true,
          ...(config.graceMs !== undefined ? { forceKillAfterDelay: config.graceMs } : {}),
          stdin: 'ignore',
          stdout: 'ignore',
          stderr: 'inherit',
          reject: false,
        });
        const entry = { controller, done: subprocess.then(() => {}) };
        live.add(entry);
        void entry.done.finally(() => live.delete(entry));
        return {
          settled: settledAt(subprocess, (r) => {
            const { failed, ipcOutput } = r as { failed: boolean; ipcOutput: unknown[] };
            return !failed && ipcOutput[0] === input.tag;
          }),
          kill: () => subprocess.kill('SIGKILL'),
          cancel: () => controller.abort(),
        };
      },
      async stopAll() {
        const entries = [...live];
        for (const entry of entries) entry.controller.abort();
        await Promise.all(entries.map((e) => e.done));
      },
      async close() {
        for (const entry of live) entry.controller.abort();
      },
    };
  },
};

// ---- workerpool -----------------------------------------------------------------------------

interface CancellablePromise extends PromiseLike<unknown> {
  cancel(): unknown;
}

const workerpoolContender: Contender = {
  name: 'workerpool',
  isolation: "a pool of processes (workerType 'process'); tasks share a worker process one after another",
  threads: false,
  reusesWorkers: true,
  offersPrewarm: true,
  offersGrace: true,
  defaultEscalation:
    'cancel(): promise rejects at once; abort listeners, then terminate message, kill() (SIGTERM) after workerTerminateTimeout (default 1 s)',
  cooperative: true,
  async create(config) {
    const { default: workerpool } = await import('workerpool');
    const pool = workerpool.pool(WORKERS.workerpool, {
      workerType: 'process',
      maxWorkers: config.concurrency,
      ...(config.prewarm !== undefined ? { minWorkers: config.prewarm ? 1 : 0 } : {}),
      ...(config.graceMs !== undefined ? { workerTerminateTimeout: config.graceMs } : {}),
      forkOpts: { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    });
    return {
      start(input) {
        const promise = pool.exec('task', [input]) as unknown as CancellablePromise;
        const cancel = () => {
          promise.cancel();
        };
        return { settled: settledAt(promise, (v) => v === input.tag), kill: cancel, cancel };
      },
      async stopAll() {
        await pool.terminate(true);
      },
      async close() {
        await pool.terminate(true).catch(() => {});
      },
    };
  },
};

/**
 * tinypool and piscina share one interface: run(input, {signal}) and destroy(). Aborting the
 * signal is their only stop, graceful or not.
 */
function signalPoolHandle(pool: {
  run(input: unknown, options: { signal: AbortSignal }): Promise<unknown>;
  destroy(): Promise<unknown>;
}): Runner {
  return {
    start(input: TaskInput) {
      const controller = new AbortController();
      const promise = pool.run(input, { signal: controller.signal });
      promise.catch(() => {});
      const abort = () => controller.abort();
      return { settled: settledAt(promise, (v) => v === input.tag), kill: abort, cancel: abort };
    },
    async stopAll() {
      await pool.destroy();
    },
    async close() {
      await pool.destroy().catch(() => {});
    },
  };
}

// ---- tinypool -------------------------------------------------------------------------------

const tinypool: Contender = {
  name: 'tinypool',
  isolation: "one process per task (runtime 'child_process', isolateWorkers: true)",
  threads: false,
  reusesWorkers: false,
  offersPrewarm: true,
  offersGrace: false,
  defaultEscalation: 'AbortSignal: promise rejects at once; SIGTERM, SIGKILL after a fixed 1 s',
  cooperative: true,
  async create(config) {
    const { default: Tinypool } = await import('tinypool');
    const pool = new Tinypool({
      filename: WORKERS.tinypool,
      runtime: 'child_process',
      isolateWorkers: true,
      maxThreads: config.concurrency,
      ...(config.prewarm !== undefined ? { minThreads: config.prewarm ? 1 : 0 } : {}),
    });
    return signalPoolHandle(pool);
  },
};

// ---- piscina --------------------------------------------------------------------------------

const piscina: Contender = {
  name: 'piscina',
  isolation: 'worker threads in the controlling process (not isolated; the speed reference)',
  threads: true,
  reusesWorkers: true,
  offersPrewarm: true,
  offersGrace: false,
  defaultEscalation: 'AbortSignal: Worker.terminate() at once; the task cannot run cleanup',
  cooperative: false,
  async create(config) {
    const { Piscina } = await import('piscina');
    const pool = new Piscina({
      filename: WORKERS.piscina,
      maxThreads: config.concurrency,
      ...(config.prewarm !== undefined ? { minThreads: config.prewarm ? 1 : 0 } : {}),
    });
    return {
      ...signalPoolHandle(pool),
      threadExit(threadId) {
        const thread = pool.threads.find((w) => w.threadId === threadId);
        return thread ? settledAt(once(thread, 'exit')) : undefined;
      },
    };
  },
};

export const CONTENDERS: Contender[] = [
  taskwarden,
  taskwardenContender(true),
  childProcess,
  execa,
  workerpoolContender,
  tinypool,
  piscina,
];

export function contender(name: string): Contender {
  const found = CONTENDERS.find((c) => c.name === name);
  if (!found) throw new Error(`unknown contender ${name}: one of ${CONTENDERS.map((c) => c.name).join(', ')}`);
  return found;
}
