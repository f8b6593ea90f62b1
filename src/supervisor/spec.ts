/**
 * The one definition of a valid task spec, with its limits: the Supervisor checks start()'s spec
 * with it, the protocol checks TASK_REQUEST with it (adding only the wire's own input size), and
 * the UI's template schema derives from its fields. A limit changed here changes everywhere.
 *
 * Checks run in time linear in the spec: a client is not trusted, and past a limit zod would
 * build one issue per bad element of a huge list (seconds for a 1 MiB line).
 */
import { z } from 'zod';
import { PARSE_OPTIONS, describeValue } from '../common/zod-issues.js';
import { PRIORITIES } from '../process/priority.js';
import { MAX_INPUT_DEPTH, MAX_TIMER_MS, MAX_TIMER_TEXT, nestsDeeperThan } from './limits.js';
import type { CommandTaskSpec, ModuleTaskSpec, TaskSpec } from './types.js';

/** A task's name: shown in lists, events and the UI (which cuts it to its column). */
export const MAX_NAME_CHARS = 200;
/** module, command and cwd (Linux PATH_MAX). */
export const MAX_PATH_CHARS = 4096;
/** Variables in a spec's env (a login shell has about 50, a CI job a few hundred). */
export const MAX_ENV_VARS = 1024;

/** A delay that arms a timer: Node turns one above MAX_TIMER_MS into 1 ms. */
export const DurationMsSchema = z
  .number()
  .int()
  .min(0, 'must be a non-negative whole number of milliseconds')
  .max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_TEXT}`);
export const PathSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_PATH_CHARS, `longer than ${MAX_PATH_CHARS} characters (PATH_MAX)`);
export const NameSchema = z.string().max(MAX_NAME_CHARS, `longer than ${MAX_NAME_CHARS} characters`);
export const PrioritySchema = z.enum(PRIORITIES, {
  error: (issue) => `must be ${PRIORITIES.map((p) => `'${p}'`).join(', ')}, got ${JSON.stringify(issue.input)}`,
});

const EnvSchema = z.record(z.string(), z.string()).superRefine((env, ctx) => {
  const issue = envLimitIssue(env);
  if (issue) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path.slice(1) });
});

const InputSchema = z.unknown().superRefine((input, ctx) => {
  const issue = inputDepthIssue(input);
  if (issue) ctx.addIssue({ code: 'custom', message: issue.message });
});

/** The smallest memory limit taken: below it even a shell cannot start, and the limit would read as a crash. */
export const MIN_MEMORY_MAX = 4 * 1024 * 1024;
export const MemoryMaxSchema = z
  .number()
  .int('must be a whole number of bytes')
  .min(MIN_MEMORY_MAX, `must be a whole number of bytes of at least ${MIN_MEMORY_MAX} (4 MiB)`)
  .max(Number.MAX_SAFE_INTEGER);

/** true, false, or the most tasks one runner may serve (README, Reusable runners). */
const reuseError = (issue: { input?: unknown }) =>
  `must be true, false or the most tasks one runner may serve (an integer >= 1), got ${JSON.stringify(issue.input)}`;
export const ReuseSchema = z.union(
  [
    z.boolean(),
    z
      .number({ error: reuseError })
      .int({ error: reuseError })
      .min(1, { error: reuseError })
      .max(Number.MAX_SAFE_INTEGER, { error: reuseError }),
  ],
  { error: reuseError },
);

/** Fields both spec kinds have. */
export const SPEC_FIELDS = {
  name: NameSchema.optional(),
  cwd: PathSchema.optional(),
  env: EnvSchema.optional(),
  timeoutMs: DurationMsSchema.optional(),
  graceMs: DurationMsSchema.optional(),
  priority: PrioritySchema.optional(),
  memoryMax: MemoryMaxSchema.optional(),
};

/** Strict (unknown keys rejected): a typo such as `arg` for `args` must be an error the user sees, not an ignored option. */
export const ModuleTaskSpecSchema = z.strictObject({
  module: PathSchema,
  input: InputSchema.optional(),
  reuse: ReuseSchema.optional(),
  ...SPEC_FIELDS,
});
export const CommandTaskSpecSchema = z.strictObject({
  command: PathSchema,
  args: z.array(z.string()).optional(),
  ...SPEC_FIELDS,
});

/** Every key a spec may have. */
export const SPEC_KEYS: ReadonlySet<string> = new Set([
  ...Object.keys(ModuleTaskSpecSchema.shape),
  ...Object.keys(CommandTaskSpecSchema.shape),
]);

export interface SpecIssue {
  message: string;
  path: PropertyKey[];
}

export interface SpecSchemaOptions {
  /** A further limit of the caller's (the protocol's input size), checked after the shape's own. */
  extraIssue?: (spec: Record<string, unknown>, isModule: boolean) => SpecIssue | undefined;
}

/**
 * A module spec or a command spec. Not a plain z.union: a failed union reports only "Invalid
 * input" for the whole object, while picking the branch by its key reports the exact field
 * ("spec.module: expected string, got number").
 */
export function taskSpecSchema(options: SpecSchemaOptions = {}): z.ZodType<TaskSpec> {
  return z.unknown().transform((value, ctx): TaskSpec => {
    const fail = (issue: SpecIssue): never => {
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    };
    if (value === undefined) return fail({ path: [], message: 'required (expected a module or command spec)' });
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return fail({ path: [], message: `expected an object with "module" or "command", got ${describeValue(value)}` });
    }
    const spec = value as Record<string, unknown>;
    const isModule = 'module' in spec;
    const tooMuch = shapeIssue(spec, isModule) ?? options.extraIssue?.(spec, isModule);
    if (tooMuch) return fail(tooMuch);
    const parsed = (isModule ? ModuleTaskSpecSchema : CommandTaskSpecSchema).safeParse(spec, PARSE_OPTIONS);
    if (parsed.success) return parsed.data satisfies ModuleTaskSpec | CommandTaskSpec;
    for (const issue of parsed.error.issues) fail({ message: issue.message, path: issue.path });
    return z.NEVER;
  });
}

export const TaskSpecSchema = taskSpecSchema();

const MAX_NAMES_SHOWN = 5;
/** Lists up to this long are left to the schema, which reports every bad element (a few issues cost nothing). */
const SCHEMA_CHECKED_ELEMENTS = 64;

/**
 * The first thing wrong with a spec's shape that is cheaper to find by hand than by zod: which
 * kind it is, keys that belong to the other kind or to none, and the limits. Also the first bad
 * element of a long `args` or `env`, so that the schema that follows never builds more than a
 * few dozen issues.
 */
function shapeIssue(spec: Record<string, unknown>, isModule: boolean): SpecIssue | undefined {
  if (isModule === 'command' in spec) {
    return {
      path: [],
      message: 'needs exactly one of "module" (a Node task module path) or "command" (a program to run)',
    };
  }
  if (isModule && 'args' in spec)
    return { path: ['args'], message: 'goes with "command"; pass a module its data through "input"' };
  if (!isModule && 'input' in spec)
    return { path: ['input'], message: 'goes with "module"; pass a command its data through "args" or "env"' };
  if (!isModule && 'reuse' in spec)
    return { path: ['reuse'], message: 'goes with "module": a command is a program of its own, started for each task' };
  const unknown = Object.keys(spec).filter((key) => !SPEC_KEYS.has(key));
  if (unknown.length > 0) {
    const shown = unknown
      .slice(0, MAX_NAMES_SHOWN)
      .map((key) => JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key));
    const more = unknown.length > MAX_NAMES_SHOWN ? ` (+${unknown.length - MAX_NAMES_SHOWN} more)` : '';
    return {
      path: [],
      message: `unknown key${unknown.length > 1 ? 's' : ''} ${shown.join(', ')}${more}; a spec has ${[...SPEC_KEYS].join(', ')}`,
    };
  }
  const { args, env, input } = spec;
  if (Array.isArray(args) && args.length > SCHEMA_CHECKED_ELEMENTS) {
    const bad = args.findIndex((arg) => typeof arg !== 'string');
    if (bad >= 0) return { path: ['args', bad], message: `expected string, got ${describeValue(args[bad])}` };
  }
  if (typeof env === 'object' && env !== null && !Array.isArray(env)) {
    const issue = envLimitIssue(env as Record<string, unknown>);
    if (issue) return issue;
    const values = env as Record<string, unknown>;
    const names = Object.keys(values);
    const bad =
      names.length > SCHEMA_CHECKED_ELEMENTS ? names.find((name) => typeof values[name] !== 'string') : undefined;
    if (bad !== undefined) return { path: ['env', bad], message: `expected string, got ${describeValue(values[bad])}` };
  }
  return isModule ? inputDepthIssue(input) : undefined;
}

function envLimitIssue(env: Record<string, unknown>): SpecIssue | undefined {
  const count = Object.keys(env).length;
  if (count <= MAX_ENV_VARS) return undefined;
  return {
    path: ['env'],
    message: `${count} variables, more than the ${MAX_ENV_VARS} a task may be given; pass only the variables the task needs (env replaces the environment)`,
  };
}

/** Before structuredClone or the IPC send, which overflow the stack on deep input (how deep depends on the caller's stack). */
function inputDepthIssue(input: unknown): SpecIssue | undefined {
  if (input === undefined || !nestsDeeperThan(input, MAX_INPUT_DEPTH)) return undefined;
  return {
    path: ['input'],
    message: `nests arrays/objects more than ${MAX_INPUT_DEPTH} levels deep, too deep to send to a task process; flatten it, or write the data to a file and pass its path in the input`,
  };
}
