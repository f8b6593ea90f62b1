/**
 * The child side: a runner process hosts a task module. It may be started ahead of time
 * (prewarmed) and then waits for 'run'. It serves one task, or, for a reusable run (issue #14),
 * more tasks of the same module one after another, each with a fresh ctx (abort signal,
 * cleanup hooks, progress throttle, cwd, lineage mark), for as long as each task completes and
 * leaves nothing running behind it. Loading the task's module is load-task.ts's.
 *
 * Stop protocol, as seen from here:
 *  - 'abort' over IPC or SIGTERM: abort ctx.signal; once the task function has
 *    settled, run the cleanup hooks, report 'cancelled' and exit. The supervisor
 *    SIGKILLs the group when the grace period runs out, so nothing here has to
 *    be trusted to finish. Between two tasks of a reusable runner, either means exit.
 *  - The IPC channel closing means the supervisor is gone: exit at once, taking
 *    the group along (the orphan guard covers the case where we cannot run).
 */
import type { TaskContext, TaskFunction } from './define-task.js';
import type { FromRunner, RunMessage, ToRunner } from '../common/runner-ipc.js';
import { toTaskError } from '../common/task-errors.js';
import { preload, taskFunction } from './load-task.js';
import { ProgressThrottle } from './progress-throttle.js';
import { leftoverResources } from './leftovers.js';
import { enterOwnCgroup } from '../process/cgroup/enter.js';

if (typeof process.send !== 'function') {
  console.error('taskwarden runner: must be started by a Supervisor (no IPC channel)');
  process.exit(2);
}

// Into the task's cgroup before any task code is loaded; a runner that cannot must not run uncontained.
try {
  enterOwnCgroup();
} catch (error) {
  console.error(`taskwarden runner: cannot enter the task's cgroup: ${(error as Error).message}`);
  process.exit(125);
}

// The streams' handles exist from here on, so a task's first write does not count as a leftover of it.
// (Their getters make them: Reflect.get is a call, so nothing reads as an unused expression.)
Reflect.get(process, 'stdout');
Reflect.get(process, 'stderr');

/** Everything of one task's run: nothing of it outlives the task (a reusable runner makes a new one per task). */
interface TaskRun {
  readonly message: RunMessage;
  readonly abort: AbortController;
  readonly cleanupHooks: Array<() => unknown>;
  /** The task function was called (before that, an abort ends the run at once). */
  called: boolean;
  finished: boolean;
  /** What was keeping the event loop alive just before the task function was called. */
  baseline?: string[];
}

let current: TaskRun | undefined;
/** Tasks this process served; a runner that is not reusable takes one. */
let served = 0;
let reusable = false;

/** Resolves true once the message is written, false when something else had to be sent instead. */
function send(message: FromRunner): Promise<boolean> {
  return new Promise((resolveSend) => {
    try {
      process.send!(message, undefined, undefined, () => resolveSend(true));
    } catch (error) {
      if (message.t === 'result') {
        // Not structured-clonable: report that instead of dying silently.
        void send({
          t: 'error',
          error: toTaskError(
            new TypeError(`task result is not structured-clonable: ${(error as Error).message}`),
            'RESULT_NOT_CLONABLE',
          ),
        }).then(() => resolveSend(false));
      } else {
        resolveSend(false);
      }
    }
  });
}

function requestAbort(reason: string): void {
  const run = current;
  // Between two tasks of a reusable runner: a stop (the previous task's, raced with its result) ends the runner.
  if (!run) {
    if (served > 0) return void exitFlushed();
    return void finishIdle();
  }
  if (run.abort.signal.aborted) return;
  run.abort.abort(new DOMException(`task cancelled (${reason})`, 'AbortError'));
  if (!run.called) void finish(run, { t: 'cancelled' });
}

/** A prewarmed runner stopped before it was given a task. */
async function finishIdle(): Promise<void> {
  await send({ t: 'cancelled' });
  await exitFlushed();
}

/**
 * Exits once stdout and stderr have handed everything to the kernel: on Linux a child's stdio is
 * a socket written asynchronously, and process.exit() drops what is still queued (a task that
 * printed 4 MB just before returning lost most of it). The supervisor reads both to the end; a stop
 * that cannot wait for this is a SIGKILL anyway.
 */
async function exitFlushed(code = 0): Promise<never> {
  await writeAll('');
  process.exit(code);
}

/** Writes `text` on stdout and on stderr; resolves when both are flushed to the kernel. */
function writeAll(text: string): Promise<unknown> {
  return Promise.all(
    [process.stdout, process.stderr].map((stream) => new Promise((flushed) => stream.write(text, flushed))),
  );
}

async function runCleanupHooks(run: TaskRun): Promise<void> {
  // Last registered runs first, like deferred statements; all run even if one throws.
  for (const hook of run.cleanupHooks.reverse()) {
    try {
      await hook();
    } catch (error) {
      process.stderr.write(
        `taskwarden: cleanup hook failed: ${(error as Error | undefined)?.stack ?? String(error)}\n`,
      );
    }
  }
}

async function finish(run: TaskRun, message: FromRunner): Promise<void> {
  if (run.finished) return;
  run.finished = true;
  if (run.abort.signal.aborted) {
    await runCleanupHooks(run);
    if (message.t !== 'result') message = { t: 'cancelled', error: message.t === 'error' ? message.error : undefined };
  }
  // A stop that raced with the result (SIGTERM after the task returned) ends the runner as well.
  const stays =
    message.t === 'result' && run.message.reuse !== undefined && (await staysClean(run)) && !run.abort.signal.aborted;
  if (!stays) {
    await send(message);
    return exitFlushed();
  }
  // From here the next task may come as soon as the result is read: this one's ctx is inert.
  current = undefined;
  // The end of this task's output: every line before the marker is this task's, on each stream.
  // The result (saying the runner is idle) goes once the markers are with the kernel, so it
  // cannot overtake them by much.
  await writeAll(`${run.message.reuse!.endMarker}\n`);
  if (!(await send({ ...message, idle: { rssBytes: process.memoryUsage.rss() } } as FromRunner))) await exitFlushed();
}

/**
 * True when the task left nothing that keeps the event loop alive beyond what was there before it
 * ran (a server, an interval, a child process, an open file handle it did not close): such a
 * leftover would run in the next task's time, so the runner is replaced instead (and says why).
 */
async function staysClean(run: TaskRun): Promise<boolean> {
  // One turn for what the task closed just before returning (a close callback, a cleared timer).
  await new Promise((resolveTurn) => setImmediate(resolveTurn));
  // A task that ended (closed) stdout or stderr leaves no way to mark the end of its output there.
  if (!process.stdout.writable || !process.stderr.writable) return false;
  const leftovers = leftoverResources(run.baseline ?? [], process.getActiveResourcesInfo());
  if (leftovers.length === 0) return true;
  await send({
    t: 'not-reusable',
    why: `the task left ${leftovers.join(', ')} active in its runner (a server, timer, child or handle it did not close)`,
  });
  return false;
}

/** A ctx for one run; once the runner has moved on from it, it does nothing: no call of it reaches a later task. */
function makeContext(run: TaskRun, throttle: ProgressThrottle): TaskContext {
  const live = () => current === run;
  return {
    signal: run.abort.signal,
    taskId: run.message.taskId,
    attempt: run.message.attempt,
    progress: (fraction, message) => {
      if (live()) throttle.progress(fraction, message);
    },
    heartbeat: () => {
      if (live()) throttle.heartbeat();
    },
    onCleanup: (hook) => {
      if (typeof hook !== 'function') throw new TypeError('ctx.onCleanup() expects a function');
      if (live() && !run.finished) run.cleanupHooks.push(hook);
    },
    log: (message) => {
      if (live()) process.stdout.write(`${message}\n`);
    },
  };
}

async function run(message: RunMessage): Promise<void> {
  if (current || (served > 0 && !reusable)) return;
  served += 1;
  reusable = message.reuse !== undefined;
  const taskRun: TaskRun = { message, abort: new AbortController(), cleanupHooks: [], called: false, finished: false };
  current = taskRun;
  // Children the task spawns inherit process.env: they carry the task's lineage mark.
  if (message.mark) process.env[message.mark[0]] = message.mark[1];
  const cwd = message.cwd ?? process.cwd();
  if (message.cwd) process.chdir(message.cwd);
  let fn: TaskFunction;
  try {
    await preloaded;
    fn = await taskFunction(message.module, cwd);
  } catch (error) {
    return finish(taskRun, { t: 'error', error: toTaskError(error) });
  }
  if (taskRun.finished) return; // cancelled while its module loaded
  const throttle = new ProgressThrottle(
    (fraction, text) => void send({ t: 'progress', fraction, message: text }),
    () => void send({ t: 'heartbeat' }),
  );
  const ctx = makeContext(taskRun, throttle);
  // Not awaited: the channel keeps the order ('started' before any progress or result), and the task
  // starts a turn of the event loop sooner.
  void send({ t: 'started' });
  if (message.reuse) taskRun.baseline = process.getActiveResourcesInfo();
  taskRun.called = true;
  let outcome: FromRunner;
  try {
    outcome = { t: 'result', value: await fn(message.input, ctx) };
  } catch (error) {
    outcome = { t: 'error', error: toTaskError(error) };
  }
  // The final progress value goes out before the result, never after it.
  throttle.flush();
  await finish(taskRun, outcome);
}

process.on('message', (message: ToRunner) => {
  if (message.t === 'run') void run(message);
  else if (message.t === 'abort') requestAbort(message.reason);
  else if (message.t === 'exit' && !current) void exitFlushed();
});
process.on('SIGTERM', () => requestAbort('SIGTERM'));
process.on('disconnect', () => {
  // The supervisor is gone: nobody can receive a result. Take the group down with us.
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    process.exit(1);
  }
});
// A task that forgets to handle a rejection must not leave the runner in limbo.
// Between two tasks of a reusable runner there is no task to blame: the runner ends, and is replaced.
process.on('uncaughtException', (error) => void failCurrent(toTaskError(error, 'UNCAUGHT_EXCEPTION')));
process.on('unhandledRejection', (reason) => void failCurrent(toTaskError(reason, 'UNHANDLED_REJECTION')));

function failCurrent(error: ReturnType<typeof toTaskError>): Promise<void> | void {
  if (current) return finish(current, { t: 'error', error });
  process.stderr.write(`taskwarden: runner between tasks: ${error.stack ?? error.message}\n`);
  void exitFlushed(1);
}

// A task that arrives while the preload is still loading waits for it: loading the same modules twice
// at once (import() here, require() of an ES module in a CommonJS task) trips a Node 20 loader bug.
const preloaded = preload();
void preloaded.then(() => send({ t: 'ready' }));
