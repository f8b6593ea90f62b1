/**
 * Task templates for the terminal UI's keys 1-9: the built-in defaults (texture analysis of
 * growing size, and tasks that misbehave on purpose so that every stop path can be tried) and the
 * built-in task modules (./builtin) a config file can name as "builtin:NAME". They live with the
 * tasks: the UI only shows and starts them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TaskSpec } from '../supervisor/types.js';

export interface Template {
  /** The key that starts it, 1-9. */
  key: number;
  name: string;
  /** One line for the help screen. */
  description?: string;
  spec: TaskSpec;
}

const here = fileURLToPath(import.meta.url);
/** dist/src/tasks: task modules must be compiled JavaScript, also when this file runs from its TypeScript source (tests). */
const compiledTasksDir = here.endsWith('.ts')
  ? path.resolve(path.dirname(here), '../../dist/src/tasks')
  : path.dirname(here);

export const BUILTIN_MODULES = ['steady', 'cpu-burner', 'sync-loop', 'ignores-sigterm', 'flaky'] as const;
export type BuiltinModule = (typeof BUILTIN_MODULES)[number];

/** Absolute path of a built-in task module (compiled). */
export function builtinModulePath(name: BuiltinModule): string {
  return path.join(compiledTasksDir, 'builtin', `${name}.js`);
}

/** The texture-analysis task module, when the texture package part is built; undefined otherwise. */
export async function textureModulePath(): Promise<string | undefined> {
  try {
    const specifier = './texture/index.js';
    const texture = (await import(specifier)) as { textureTaskModule?: unknown };
    if (typeof texture.textureTaskModule === 'string' && existsSync(texture.textureTaskModule))
      return texture.textureTaskModule;
  } catch {
    // not built (or not shipped): fall back below
  }
  const compiled = path.resolve(compiledTasksDir, 'texture/task.js');
  return existsSync(compiled) ? compiled : undefined;
}

/** Resolves "builtin:NAME" (and "builtin:texture"); undefined for an unknown name. */
export async function resolveBuiltin(name: string): Promise<string | undefined> {
  if (name === 'texture') return textureModulePath();
  return (BUILTIN_MODULES as readonly string[]).includes(name) ? builtinModulePath(name as BuiltinModule) : undefined;
}

const SHELL_STEPS = 30;
/** A POSIX shell loop that reports progress with the command progress protocol (one JSON object per line). */
const SHELL_LOOP =
  `i=0; while [ $i -lt ${SHELL_STEPS} ]; do i=$((i+1)); p=$((i*100/${SHELL_STEPS})); ` +
  `if [ $p -ge 100 ]; then f=1; else f=$(printf '0.%02d' $p); fi; ` +
  `printf '{"progress": %s, "message": "shell step %d/${SHELL_STEPS}"}\\n' $f $i; echo "log line $i"; sleep 0.5; done`;

/** The nine default templates. */
export async function defaultTemplates(): Promise<Template[]> {
  const texture = await textureModulePath();
  const presets: Array<Omit<Template, 'key'>> = texture
    ? [
        {
          name: 'texture · brick + grass 512²',
          description: 'GLCM texture features of the bundled brick.png and grass.png (512 x 512, 8-bit)',
          spec: { module: texture, input: { images: ['sample:brick', 'sample:grass'] } },
        },
        {
          name: 'texture · 2048² 16-bit',
          description: 'texture features of a generated 2048 x 2048 16-bit TIFF (generated on first use)',
          spec: { module: texture, input: { images: ['sample:synthetic-2048-16bit'] } },
        },
        {
          name: 'texture · 4096² 16-bit',
          description: 'texture features of a generated 4096 x 4096 16-bit TIFF (generated on first use)',
          spec: { module: texture, input: { images: ['sample:synthetic-4096-16bit'] } },
        },
      ]
    : [
        {
          name: 'simulated analysis · small',
          description: 'texture analysis is not built here: a cooperative stand-in, 5 s',
          spec: { module: builtinModulePath('steady'), input: { steps: 50, stepMs: 100 } },
        },
        {
          name: 'simulated analysis · medium',
          description: 'texture analysis is not built here: a cooperative stand-in, 20 s',
          spec: { module: builtinModulePath('steady'), input: { steps: 200, stepMs: 100 } },
        },
        {
          name: 'simulated analysis · large',
          description: 'texture analysis is not built here: a cooperative stand-in, 60 s',
          spec: { module: builtinModulePath('steady'), input: { steps: 600, stepMs: 100 } },
        },
      ];
  const rest: Array<Omit<Template, 'key'>> = [
    {
      name: 'stuck in a sync loop',
      description: 'spins in a synchronous loop: k escalates after the grace period, K stops it at once',
      spec: { module: builtinModulePath('sync-loop'), graceMs: 3000 },
    },
    {
      name: 'ignores SIGTERM',
      description: 'catches SIGTERM and carries on: k escalates to SIGKILL after 2 s',
      spec: { module: builtinModulePath('ignores-sigterm'), graceMs: 2000 },
    },
    {
      name: 'fails now and then',
      description: 'cooperative, fails part-way one run in three: try r',
      spec: { module: builtinModulePath('flaky') },
    },
    {
      name: 'steady worker',
      description: 'cooperative, 30 s of sleeping steps: k stops it at once',
      spec: { module: builtinModulePath('steady') },
    },
    {
      name: 'CPU burner',
      description: 'CPU-bound but cooperative, 60 s',
      spec: { module: builtinModulePath('cpu-burner') },
    },
    {
      name: 'shell command',
      description: 'sh loop reporting progress as JSON lines, 15 s',
      spec: { command: '/bin/sh', args: ['-c', SHELL_LOOP] },
    },
  ];
  return [...presets, ...rest].map((t, index) => ({ ...t, key: index + 1, spec: { name: t.name, ...t.spec } }));
}
