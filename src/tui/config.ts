/**
 * taskwarden.config.json: up to nine task templates for keys 1-9.
 *
 *   {"templates": [
 *     {"name": "analyse", "module": "./tasks/analyse.js", "input": {"file": "a.png"}},
 *     {"name": "job", "command": ["python3", "job.py", "--fast"]}
 *   ]}
 *
 * Paths (module, cwd) are relative to the config file's directory, which is also the default
 * working directory of every template's task. "builtin:NAME" names a module shipped with
 * taskwarden (steady, cpu-burner, sync-loop, ignores-sigterm, flaky, texture).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PARSE_OPTIONS, describeValue, formatIssues } from '../common/zod-issues.js';
import {
  CommandTaskSpecSchema,
  MemoryMaxSchema,
  ModuleTaskSpecSchema,
  NameSchema,
  PathSchema,
  SPEC_FIELDS,
} from '../supervisor/spec.js';
import { parseMemorySize } from '../supervisor/memory-size.js';
import type { TaskSpec } from '../supervisor/types.js';
import { inputBytesIssue } from '../protocol/limits.js';
import { BUILTIN_MODULES, defaultTemplates, resolveBuiltin, type Template } from '../tasks/templates.js';

export const CONFIG_FILE = 'taskwarden.config.json';
export const MAX_TEMPLATES = 9;

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/**
 * A template is a task spec (supervisor/spec.ts: the same fields and limits the Supervisor and
 * the daemon apply) with a required name, a description, and a command written as one array.
 */
const common = {
  ...SPEC_FIELDS,
  name: NameSchema.trim().min(1, 'must not be empty'),
  description: z.string().max(200).optional(),
  /** A size such as "2G" (binary units), or a number of bytes. */
  memoryMax: z
    .union([MemoryMaxSchema, z.string()], {
      error: 'expected a size such as "2G" or a number of bytes of at least 4 MiB',
    })
    .transform((value, ctx) => {
      try {
        return MemoryMaxSchema.parse(typeof value === 'number' ? value : parseMemorySize(value));
      } catch (error) {
        const message = error instanceof z.ZodError ? error.issues[0]!.message : (error as Error).message;
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
    })
    .optional(),
};

// Templates are started through the daemon: the wire's own limit on an input holds for them too.
const ModuleTemplateSchema = ModuleTaskSpecSchema.extend(common).superRefine((template, ctx) => {
  const issue = inputBytesIssue(template, true);
  if (issue) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
});
const CommandTemplateSchema = CommandTaskSpecSchema.omit({ command: true, args: true }).extend({
  ...common,
  command: z
    .array(PathSchema, {
      error: (issue) => `expected an array like ["python3", "job.py"], got ${describeValue(issue.input)}`,
    })
    .min(1, 'needs at least the program, e.g. ["python3", "job.py"]'),
});

type ModuleTemplate = z.output<typeof ModuleTemplateSchema>;
type CommandTemplate = z.output<typeof CommandTemplateSchema>;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Validates parsed JSON; throws a ConfigError naming the first problem. Paths are resolved against `baseDir`. */
export async function parseConfig(value: unknown, file: string, baseDir = path.dirname(file)): Promise<Template[]> {
  const fail = (problem: string): never => {
    throw new ConfigError(file, problem);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(`expected an object {"templates": [...]}, got ${describe(value)}`);
  const record = value as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => k !== 'templates' && k !== '$schema');
  if (unknown.length > 0) fail(`unknown key ${JSON.stringify(unknown[0])} (only "templates" is allowed)`);
  const list = record.templates;
  if (list === undefined) fail('"templates" is missing (expected an array of up to 9 templates)');
  if (!Array.isArray(list)) fail(`"templates" must be an array, got ${describe(list)}`);
  const templates = list as unknown[];
  if (templates.length === 0) fail('"templates" is empty (expected 1 to 9 templates)');
  if (templates.length > MAX_TEMPLATES)
    fail(`"templates" has ${templates.length} entries; keys 1-9 start at most ${MAX_TEMPLATES}`);

  const out: Template[] = [];
  for (let i = 0; i < templates.length; i++) {
    const where = `templates[${i}]`;
    const entry = templates[i];
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      fail(`${where}: expected an object, got ${describe(entry)}`);
    const obj = entry as Record<string, unknown>;
    const hasModule = 'module' in obj;
    const hasCommand = 'command' in obj;
    if (hasModule && hasCommand) fail(`${where}: has both "module" and "command"; a template is one or the other`);
    if (!hasModule && !hasCommand)
      fail(`${where}: needs "module" (a task module path) or "command" (an array like ["python3", "job.py"])`);
    const parsed = (hasModule ? ModuleTemplateSchema : CommandTemplateSchema).safeParse(entry, PARSE_OPTIONS);
    if (!parsed.success) fail(formatIssues(where, parsed.error.issues, { maxIssues: 1 }));
    const t = parsed.data as ModuleTemplate | CommandTemplate;
    const cwd = path.resolve(baseDir, t.cwd ?? '.');
    const shared = {
      name: t.name,
      cwd,
      ...(t.env ? { env: t.env } : {}),
      ...(t.timeoutMs !== undefined ? { timeoutMs: t.timeoutMs } : {}),
      ...(t.graceMs !== undefined ? { graceMs: t.graceMs } : {}),
      ...(t.priority !== undefined ? { priority: t.priority } : {}),
      ...(t.memoryMax !== undefined ? { memoryMax: t.memoryMax } : {}),
    };
    let spec: TaskSpec;
    if ('module' in t) {
      let modulePath: string;
      if (t.module.startsWith('builtin:')) {
        const name = t.module.slice('builtin:'.length);
        const resolved = await resolveBuiltin(name);
        if (!resolved)
          fail(
            `${where}.module: unknown built-in ${JSON.stringify(name)} (known: ${[...BUILTIN_MODULES, 'texture'].join(', ')}; texture only where it is built)`,
          );
        modulePath = resolved as string;
      } else {
        modulePath = path.resolve(baseDir, t.module);
      }
      spec = {
        module: modulePath,
        ...(t.input !== undefined ? { input: t.input } : {}),
        ...(t.reuse !== undefined ? { reuse: t.reuse } : {}),
        ...shared,
      };
    } else {
      spec = { command: t.command[0]!, args: t.command.slice(1), ...shared };
    }
    out.push({ key: i + 1, name: t.name, ...(t.description ? { description: t.description } : {}), spec });
  }
  return out;
}

export interface LoadedTemplates {
  templates: Template[];
  /** The config file used; undefined for the built-in defaults. */
  file?: string;
}

/**
 * The templates: from `configPath` when given (it must exist), else from taskwarden.config.json in
 * `cwd` when there is one, else the defaults. Throws ConfigError for a missing --config file, bad
 * JSON or a bad template.
 */
export async function loadTemplates(options: { config?: string; cwd?: string } = {}): Promise<LoadedTemplates> {
  const cwd = options.cwd ?? process.cwd();
  const file = path.resolve(cwd, options.config ?? CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.config === undefined) return { templates: await defaultTemplates() };
    throw new ConfigError(file, code === 'ENOENT' ? 'no such file' : `cannot read it (${(error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, `not valid JSON (${(error as Error).message})`);
  }
  return { templates: await parseConfig(json, file), file };
}
