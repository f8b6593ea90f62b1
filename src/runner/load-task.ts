/**
 * Loading a task module into the runner: its task function (once per module, for a reusable
 * runner), 'taskwarden' provided to a module that cannot find its own, Node's not-found and syntax
 * errors turned into ones that say what is missing and where, and the prewarmed runner's preload.
 */
import { existsSync, realpathSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isTaskDefinition, type TaskFunction } from './define-task.js';
import { PRELOAD_ENV } from '../common/runner-ipc.js';
import { withCode } from '../common/task-errors.js';

/** Task functions by module path: a reusable runner loads its module once (module-level state persists, by design). */
const loadedTasks = new Map<string, TaskFunction>();

/** The task function of `modulePath` (relative to `cwd`), loaded on first use. */
export async function taskFunction(modulePath: string, cwd: string): Promise<TaskFunction> {
  const absolute = isAbsolute(modulePath) ? modulePath : resolve(cwd, modulePath);
  const fn = loadedTasks.get(absolute) ?? (await loadTask(absolute));
  loadedTasks.set(absolute, fn);
  return fn;
}

async function loadTask(absolute: string): Promise<TaskFunction> {
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
    if (code === 'MODULE_NOT_FOUND' && /\nRequire stack:\n- /.test(String((error as Error).message)))
      throw requireNotFound(absolute, error as Error);
    if (error instanceof SyntaxError) {
      throw withCode(
        'MODULE_SYNTAX_ERROR',
        new SyntaxError(`task module ${absolute} does not parse: ${error.message}`),
        { stack: error.stack },
      );
    }
    throw error;
  }
  const candidate = namespace.default;
  if (isTaskDefinition(candidate)) return candidate.run;
  if (typeof candidate === 'function') return candidate as TaskFunction;
  throw withCode(
    'NO_TASK_EXPORT',
    new TypeError(
      `task module ${absolute} has no task: its default export must be defineTask(async (input, ctx) => ...)`,
    ),
  );
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
    process.stderr.write(
      `taskwarden: cannot provide 'taskwarden' to ${modulePath} (${(error as Error).message}); install it next to the module\n`,
    );
  }
}

/**
 * Node says "Cannot find package 'x' imported from /dir/task.mjs", naming the task module as the
 * importer: what is missing is the package (or file) it imports, and where it was looked for.
 */
function importNotFound(modulePath: string, error: Error): Error {
  const match = /Cannot find (package|module) '([^']+)' imported from (.+)$/m.exec(error.message);
  // No stack: it would show Node's loader, not the task; the message says all there is.
  if (!match)
    return withCode(
      'IMPORT_NOT_FOUND',
      new Error(`task module ${modulePath} imports something that cannot be found: ${error.message}`),
      { stack: undefined },
    );
  const [, kind, what, importer] = match as unknown as [string, string, string, string];
  const from = importer.startsWith('file:') ? fileURLToPath(importer) : importer;
  const via =
    from === modulePath || from === realPath(modulePath)
      ? `the task module ${modulePath}`
      : `${from} (imported by the task module ${modulePath})`;
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
  const via =
    from === modulePath || from === realPath(modulePath)
      ? `the task module ${modulePath}`
      : `${from} (required by the task module ${modulePath})`;
  const relative = what.startsWith('.') || what.startsWith('/');
  const own = what === 'taskwarden' || what.startsWith('taskwarden/');
  const message = relative
    ? `${via} requires ${what}, which does not exist: check the path of the require`
    : `${via} requires '${what}', which cannot be found from ${dirname(from)}: install ${packageName(what)} there (npm install ${packageName(what)})` +
      (own
        ? ", or write the task module as an ES module (.mjs with import), which gets the runner's own taskwarden"
        : ', or in a directory above it');
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

/**
 * A prewarmed runner also loads what task modules commonly import (the
 * taskwarden package itself) while it waits, so a start pays only for the
 * task's own code. A cold runner skips this: the task would pay it anyway.
 */
export async function preload(): Promise<void> {
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
