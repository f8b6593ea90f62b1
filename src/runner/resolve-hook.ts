/**
 * A module resolution hook (node:module register()) for runner processes: `taskwarden` and
 * `taskwarden/...` imported by a task module that cannot find the package from where it lives
 * (a task module in ~/analysis/tasks, with no node_modules/taskwarden above it) resolve to the
 * taskwarden that runs the task. A task module that has taskwarden installed next to it gets its
 * own copy: the hook only answers where Node's own resolution found nothing.
 *
 * The runner registers it only for a task module that cannot resolve `taskwarden` itself, so other
 * tasks do not pay for the loader thread Node 20 starts for hooks.
 */
interface ResolveContext {
  parentURL?: string;
  conditions: string[];
  importAttributes?: Record<string, string>;
}
type NextResolve = (
  specifier: string,
  context?: ResolveContext,
) => Promise<{ url: string; format?: string | null; shortCircuit?: boolean }>;

/** A URL inside this package: the package resolves its own name from here (package.json "exports"). */
let selfURL = import.meta.url;

export function initialize(data: { selfURL?: string } | undefined): void {
  if (typeof data?.selfURL === 'string') selfURL = data.selfURL;
}

export async function resolve(specifier: string, context: ResolveContext, nextResolve: NextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const own = specifier === 'taskwarden' || specifier.startsWith('taskwarden/');
    if (!own || (error as NodeJS.ErrnoException | undefined)?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    return nextResolve(specifier, { ...context, parentURL: selfURL });
  }
}
