/**
 * The child side: a runner process hosts exactly one task module.
 * It may be started ahead of time (prewarmed) and then waits for 'run'.
 *
 * Stop protocol, as seen from here:
 *  - 'abort' over IPC or SIGTERM: abort ctx.signal; once the task function has
 *    settled, run the cleanup hooks, report 'cancelled' and exit. The supervisor
 *    SIGKILLs the group when the grace period runs out, so nothing here has to
 *    be trusted to finish.
 *  - The IPC channel closing means the supervisor is gone: exit at once, taking
 *    the group along (the orphan guard covers the case where we cannot run).
 */
import { existsSync, realpathSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isTaskDefinition, type TaskContext, type TaskFunction } from './define-task.js';
import { PRELOAD_ENV, type FromRunner, type RunMessage, type ToRunner } from '../common/runner-ipc.js';
import { toTaskError, withCode } from '../common/task-errors.js';
import { ProgressThrottle } from './progress-throttle.js';
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


const abortController = new AbortController();
const cleanupHooks: Array<() => unknown> = [];
let running = false;
let finished = false;

function send(message: FromRunner): Promise<void> {
  return new Promise((resolveSend) => {
    try {
      process.send!(message, undefined, undefined, () => resolveSend());
    } catch (error) {
      if (message.t === 'result') {
        // Not structured-clonable: report that instead of dying silently.
        void send({ t: 'error', error: toTaskError(new TypeError(`task result is not structured-clonable: ${(error as Error).message}`), 'RESULT_NOT_CLONABLE') }).then(resolveSend);
      } else {
        resolveSend();
      }
    }
  });
}

function requestAbort(reason: string): void {
  if (abortController.signal.aborted) return;
  abortController.abort(new DOMException(`task cancelled (${reason})`, 'AbortError'));
  if (!running) void finish({ t: 'cancelled' });
}

async function runCleanupHooks(): Promise<void> {
  // Last registered runs first, like deferred statements; all run even if one throws.
  for (const hook of cleanupHooks.reverse()) {
    try {
      await hook();
    } catch (error) {
      process.stderr.write(`taskwarden: cleanup hook failed: ${(error as Error | undefined)?.stack ?? String(error)}\n`);
    }
  }
}

async function finish(message: FromRunner): Promise<void> {
  if (finished) return;
  finished = true;
  if (abortController.signal.aborted) {
    await runCleanupHooks();
    if (message.t !== 'result') message = { t: 'cancelled', error: message.t === 'error' ? message.error : undefined };
  }
  await send(message);
  process.exit(0);
}

async function loadTask(modulePath: string, cwd: string): Promise<TaskFunction> {
  const absolute = isAbsolute(modulePath) ? modulePath : resolve(cwd, modulePath);
  if (!existsSync(absolute)) {
    throw withCode('MODULE_NOT_FOUND', new Error(`cannot find task module ${absolute}: check the path`));
  }
  provideTaskwardenTo(absolute);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND') throw importNotFound(absolute, error as Error);
    if (code === 'MODULE_NOT_FOUND' && /\nRequire stack:\n- /.test(String((error as Error).message))) throw requireNotFound(absolute, error as Error);
    if (error instanceof SyntaxError) {
      throw withCode('MODULE_SYNTAX_ERROR', new SyntaxError(`task module ${absolute} does not parse: ${error.message}`), { stack: error.stack });
    }
    throw error;
  }
  const candidate = namespace.default;
  if (isTaskDefinition(candidate)) return candidate.run;
  if (typeof candidate === 'function') return candidate as TaskFunction;
  throw withCode('NO_TASK_EXPORT', new TypeError(`task module ${absolute} has no task: its default export must be defineTask(async (input, ctx) => ...)`));
}

/**
 * `import { defineTask } from 'taskwarden/task'` works in a task module anywhere: where the module
 * cannot find the package itself (no node_modules/taskwarden above it), this runner's own
 * taskwarden answers (resolve-hook.ts). Registered only then: Node 20 runs hooks on a thread of
 * their own, which a task that finds its own taskwarden need not pay for.
 */
function provideTaskwardenTo(modulePath: string): void {
  try {
    createRequire(modulePath).resolve('taskwarden/package.json');
    return; // found from there: its own (or a linked) taskwarden is used
  } catch {
    // not found from the module's directory
  }
  try {
    const hook = new URL('./resolve-hook.js', import.meta.url);
    register(hook.href, { data: { selfURL: import.meta.url } });
  } catch (error) {
    process.stderr.write(`taskwarden: cannot provide 'taskwarden' to ${modulePath} (${(error as Error).message}); install it next to the module\n`);
  }
}

/**
 * Node says "Cannot find package 'x' imported from /dir/task.mjs", naming the task module as the
 * importer: what is missing is the package (or file) it imports, and where it was looked for.
 */
function importNotFound(modulePath: string, error: Error): Error {
  const match = /Cannot find (package|module) '([^']+)' imported from (.+)$/m.exec(error.message);
  // No stack: it would show Node's loader, not the task; the message says all there is.
  if (!match) return withCode('IMPORT_NOT_FOUND', new Error(`task module ${modulePath} imports something that cannot be found: ${error.message}`), { stack: undefined });
  const [, kind, what, importer] = match as unknown as [string, string, string, string];
  const from = importer.startsWith('file:') ? fileURLToPath(importer) : importer;
  const via = from === modulePath || from === realPath(modulePath) ? `the task module ${modulePath}` : `${from} (imported by the task module ${modulePath})`;
  const dir = dirname(from);
  const message =
    kind === 'package'
      ? `${via} imports '${what}', which cannot be found from ${dir}: install ${packageName(what)} there (npm install ${packageName(what)}), or in a directory above it`
      : `${via} imports ${what}, which does not exist: check the path of the import`;
  return withCode('IMPORT_NOT_FOUND', new Error(message), { stack: undefined });
}

/** The same for require() in a CommonJS task module ("Cannot find module 'x'\nRequire stack:\n- /dir/task.cjs"). */
function requireNotFound(modulePath: string, error: Error): Error {
  const what = /Cannot find module '([^']+)'/.exec(error.message)?.[1] ?? '?';
  const from = /\nRequire stack:\n- (.+)/.exec(error.message)?.[1] ?? modulePath;
  const via = from === modulePath || from === realPath(modulePath) ? `the task module ${modulePath}` : `${from} (required by the task module ${modulePath})`;
  const relative = what.startsWith('.') || what.startsWith('/');
  const own = what === 'taskwarden' || what.startsWith('taskwarden/');
  const message = relative
    ? `${via} requires ${what}, which does not exist: check the path of the require`
    : `${via} requires '${what}', which cannot be found from ${dirname(from)}: install ${packageName(what)} there (npm install ${packageName(what)})` +
      (own ? ", or write the task module as an ES module (.mjs with import), which gets the runner's own taskwarden" : ', or in a directory above it');
  return withCode('IMPORT_NOT_FOUND', new Error(message), { stack: undefined });
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** "@scope/name/sub" -> "@scope/name", "name/sub" -> "name". */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function makeContext(run: RunMessage, throttle: ProgressThrottle): TaskContext {
  return {
    signal: abortController.signal,
    taskId: run.taskId,
    attempt: run.attempt,
    progress: (fraction, message) => throttle.progress(fraction, message),
    heartbeat: () => throttle.heartbeat(),
    onCleanup: (hook) => {
      if (typeof hook !== 'function') throw new TypeError('ctx.onCleanup() expects a function');
      cleanupHooks.push(hook);
    },
    log: (message) => void process.stdout.write(`${message}\n`),
  };
}

async function run(message: RunMessage): Promise<void> {
  if (running || finished) return;
  running = true;
  // Children the task spawns inherit process.env: they carry the task's lineage mark.
  if (message.mark) process.env[message.mark[0]] = message.mark[1];
  const cwd = message.cwd ?? process.cwd();
  if (message.cwd) process.chdir(message.cwd);
  let fn: TaskFunction;
  try {
    await preloaded;
    fn = await loadTask(message.module, cwd);
  } catch (error) {
    return finish({ t: 'error', error: toTaskError(error) });
  }
  const throttle = new ProgressThrottle((fraction, text) => void send({ t: 'progress', fraction, message: text }), () => void send({ t: 'heartbeat' }));
  const ctx = makeContext(message, throttle);
  await send({ t: 'started' });
  let outcome: FromRunner;
  try {
    outcome = { t: 'result', value: await fn(message.input, ctx) };
  } catch (error) {
    outcome = { t: 'error', error: toTaskError(error) };
  }
  // The final progress value goes out before the result, never after it.
  throttle.flush();
  await finish(outcome);
}

process.on('message', (message: ToRunner) => {
  if (message.t === 'run') void run(message);
  else if (message.t === 'abort') requestAbort(message.reason);
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
process.on('uncaughtException', (error) => void finish({ t: 'error', error: toTaskError(error, 'UNCAUGHT_EXCEPTION') }));
process.on('unhandledRejection', (reason) => void finish({ t: 'error', error: toTaskError(reason, 'UNHANDLED_REJECTION') }));

/**
 * A prewarmed runner also loads what task modules commonly import (the
 * taskwarden package itself) while it waits, so a start pays only for the
 * task's own code. A cold runner skips this: the task would pay it anyway.
 */
async function preload(): Promise<void> {
  const list = process.env[PRELOAD_ENV];
  Reflect.deleteProperty(process.env, PRELOAD_ENV);
  let specifiers: unknown = [];
  try {
    specifiers = JSON.parse(list ?? '[]');
  } catch {
    // Not ours to fail on: preloading is only an optimisation.
  }
  for (const specifier of Array.isArray(specifiers) ? specifiers.map(String) : []) {
    try {
      await import(specifier);
    } catch {
      // Only an optimisation: the task's own import reports any real problem.
    }
  }
}

// A task that arrives while the preload is still loading waits for it: loading the same modules twice
// at once (import() here, require() of an ES module in a CommonJS task) trips a Node 20 loader bug.
const preloaded = preload();
void preloaded.then(() => send({ t: 'ready' }));
