/**
 * What one TASK_REQUEST may carry, checked before the spec's schema runs, in time
 * linear in the spec. A client is not trusted: a value the daemon accepts here must
 * not fail later (the IPC serializer on a deep input) nor cost every reader of every
 * event (a 20 000-variable env), and a bad spec must cost about what its bytes cost to
 * read (zod builds one issue per bad element: seconds for a 1 MiB list of numbers).
 */
import { MAX_INPUT_DEPTH, nestsDeeperThan } from '../supervisor/limits.js';

/** JSON size of a module task's input; leaves room in a 1 MiB line for the ACK and events that carry it. */
export const MAX_INPUT_BYTES = 512 * 1024;
/** Variables in a spec's env (a login shell has about 50, a CI job a few hundred). */
export const MAX_ENV_VARS = 1024;
/** module, command and cwd (Linux PATH_MAX). */
export const MAX_PATH_CHARS = 4096;

/** Every key a spec may have: the schemas' (test/protocol/limits-keys.test.ts holds the two together). */
export const SPEC_KEYS: ReadonlySet<string> = new Set(['module', 'input', 'command', 'args', 'name', 'cwd', 'env', 'timeoutMs', 'graceMs', 'priority']);
const MAX_NAMES_SHOWN = 5;
/** Lists up to this long are left to the schema, which reports every bad element (a few issues cost nothing). */
const SCHEMA_CHECKED_ELEMENTS = 64;

export interface LimitIssue {
  message: string;
  path: PropertyKey[];
}

/**
 * The first limit a spec object breaks, or undefined. Also reports unknown keys and the first
 * bad element of a long `args` or `env` itself, so that the schema that follows never builds
 * more than a few dozen issues.
 */
export function specLimitIssue(spec: Record<string, unknown>, isModule: boolean): LimitIssue | undefined {
  const unknown = Object.keys(spec).filter((key) => !SPEC_KEYS.has(key));
  if (unknown.length > 0) {
    const shown = unknown.slice(0, MAX_NAMES_SHOWN).map((key) => JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key));
    const more = unknown.length > MAX_NAMES_SHOWN ? ` (+${unknown.length - MAX_NAMES_SHOWN} more)` : '';
    return { path: [], message: `Unrecognized key${unknown.length > 1 ? 's' : ''}: ${shown.join(', ')}${more}; a spec has ${[...SPEC_KEYS].join(', ')}` };
  }
  const { args, env, input } = spec;
  if (Array.isArray(args) && args.length > SCHEMA_CHECKED_ELEMENTS) {
    const bad = args.findIndex((arg) => typeof arg !== 'string');
    if (bad >= 0) return { path: ['args', bad], message: `expected string, got ${describe(args[bad])}` };
  }
  if (typeof env === 'object' && env !== null && !Array.isArray(env)) {
    const names = Object.keys(env);
    if (names.length > MAX_ENV_VARS) {
      return {
        path: ['env'],
        message: `${names.length} variables, more than the ${MAX_ENV_VARS} a task may be given; pass only the variables the task needs (env replaces the daemon's environment)`,
      };
    }
    const values = env as Record<string, unknown>;
    const bad = names.length > SCHEMA_CHECKED_ELEMENTS ? names.find((name) => typeof values[name] !== 'string') : undefined;
    if (bad !== undefined) return { path: ['env', bad], message: `expected string, got ${describe(values[bad])}` };
  }
  if (isModule && input !== undefined) {
    if (nestsDeeperThan(input, MAX_INPUT_DEPTH)) {
      return {
        path: ['input'],
        message: `nests arrays/objects more than ${MAX_INPUT_DEPTH} levels deep, too deep to send to a task process; flatten it, or write the data to a file and pass its path in the input`,
      };
    }
    const bytes = Buffer.byteLength(JSON.stringify(input) ?? '');
    if (bytes > MAX_INPUT_BYTES) {
      return {
        path: ['input'],
        message: `${bytes} bytes of JSON, more than the ${MAX_INPUT_BYTES} (512 KiB) a task request may carry; write the data to a file and pass its path in the input`,
      };
    }
  }
  return undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
