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
import type { TaskSpec } from '../supervisor/types.js';
import { BUILTIN_MODULES, defaultTemplates, resolveBuiltin, type Template } from './templates.js';

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

const common = {
  name: z.string().trim().min(1, 'must not be empty').max(60, 'at most 60 characters'),
  description: z.string().max(200).optional(),
  cwd: z.string().min(1).optional(),
  env: z.record(z.string(), z.string()).optional(),
  timeoutMs: z.number().int().min(0).optional(),
  graceMs: z.number().int().min(0).optional(),
  priority: z.enum(['idle', 'low', 'normal']).optional(),
};

const ModuleTemplateSchema = z.strictObject({ ...common, module: z.string().min(1, 'must not be empty'), input: z.unknown().optional() });
const CommandTemplateSchema = z.strictObject({
  ...common,
  command: z.array(z.string().min(1, 'must not be empty'), { error: 'expected an array like ["python3", "job.py"]' }).min(1, 'needs at least the program, e.g. ["python3", "job.py"]'),
});

type ModuleTemplate = z.output<typeof ModuleTemplateSchema>;
type CommandTemplate = z.output<typeof CommandTemplateSchema>;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function issuePath(prefix: string, issuePathParts: ReadonlyArray<PropertyKey>): string {
  let out = prefix;
  for (const part of issuePathParts) out += typeof part === 'number' ? `[${part}]` : `.${String(part)}`;
  return out;
}

function valueAt(root: unknown, parts: ReadonlyArray<PropertyKey>): unknown {
  let value = root;
  for (const part of parts) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

function firstIssue(prefix: string, error: z.ZodError, root: unknown): string {
  const issue = error.issues[0]!; // a ZodError has at least one issue
  const where = issuePath(prefix, issue.path);
  if (issue.code === 'unrecognized_keys') return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  if (issue.code === 'invalid_type') {
    const input = valueAt(root, issue.path);
    if (input === undefined) return `${where}: required (expected ${issue.expected})`;
    const custom = issue.message.startsWith('Invalid input') ? '' : `${issue.message}, `;
    return `${where}: ${custom || `expected ${issue.expected}, `}got ${describe(input)}`;
  }
  return `${where}: ${issue.message}`;
}

/** Validates parsed JSON; throws a ConfigError naming the first problem. Paths are resolved against `baseDir`. */
export async function parseConfig(value: unknown, file: string, baseDir = path.dirname(file)): Promise<Template[]> {
  const fail = (problem: string): never => {
    throw new ConfigError(file, problem);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`expected an object {"templates": [...]}, got ${describe(value)}`);
  const record = value as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => k !== 'templates' && k !== '$schema');
  if (unknown.length > 0) fail(`unknown key ${JSON.stringify(unknown[0])} (only "templates" is allowed)`);
  const list = record.templates;
  if (list === undefined) fail('"templates" is missing (expected an array of up to 9 templates)');
  if (!Array.isArray(list)) fail(`"templates" must be an array, got ${describe(list)}`);
  const templates = list as unknown[];
  if (templates.length === 0) fail('"templates" is empty (expected 1 to 9 templates)');
  if (templates.length > MAX_TEMPLATES) fail(`"templates" has ${templates.length} entries; keys 1-9 start at most ${MAX_TEMPLATES}`);

  const out: Template[] = [];
  for (let i = 0; i < templates.length; i++) {
    const where = `templates[${i}]`;
    const entry = templates[i];
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`${where}: expected an object, got ${describe(entry)}`);
    const obj = entry as Record<string, unknown>;
    const hasModule = 'module' in obj;
    const hasCommand = 'command' in obj;
    if (hasModule && hasCommand) fail(`${where}: has both "module" and "command"; a template is one or the other`);
    if (!hasModule && !hasCommand) fail(`${where}: needs "module" (a task module path) or "command" (an array like ["python3", "job.py"])`);
    const parsed = (hasModule ? ModuleTemplateSchema : CommandTemplateSchema).safeParse(entry);
    if (!parsed.success) fail(firstIssue(where, parsed.error, entry));
    const t = parsed.data as ModuleTemplate | CommandTemplate;
    const cwd = path.resolve(baseDir, t.cwd ?? '.');
    const shared = {
      name: t.name,
      cwd,
      ...(t.env ? { env: t.env } : {}),
      ...(t.timeoutMs !== undefined ? { timeoutMs: t.timeoutMs } : {}),
      ...(t.graceMs !== undefined ? { graceMs: t.graceMs } : {}),
      ...(t.priority !== undefined ? { priority: t.priority } : {}),
    };
    let spec: TaskSpec;
    if ('module' in t) {
      let modulePath: string;
      if (t.module.startsWith('builtin:')) {
        const name = t.module.slice('builtin:'.length);
        const resolved = await resolveBuiltin(name);
        if (!resolved) fail(`${where}.module: unknown built-in ${JSON.stringify(name)} (known: ${[...BUILTIN_MODULES, 'texture'].join(', ')}; texture only where it is built)`);
        modulePath = resolved as string;
      } else {
        modulePath = path.resolve(baseDir, t.module);
      }
      spec = { module: modulePath, ...(t.input !== undefined ? { input: t.input } : {}), ...shared };
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
