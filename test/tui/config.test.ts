import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadTemplates, parseConfig } from '../../src/tui/config.js';
import { BUILTIN_MODULES, builtinModulePath, defaultTemplates } from '../../src/tasks/templates.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskwarden-tui-config-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function problem(value: unknown): Promise<string> {
  try {
    await parseConfig(value, '/cfg/taskwarden.config.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problem;
  }
  throw new Error('expected a ConfigError');
}

describe('templates config', () => {
  it('reads module and command templates, paths relative to the file', async () => {
    const templates = await parseConfig(
      {
        templates: [
          { name: 'analyse', module: './tasks/analyse.js', input: { file: 'a.png' }, graceMs: 500 },
          { name: 'job', command: ['python3', 'job.py', '--fast'], cwd: 'jobs', env: { A: '1' } },
          { name: 'spin', module: 'builtin:sync-loop' },
          { name: 'plate', module: './tasks/analyse.js', reuse: 50 },
        ],
      },
      '/cfg/taskwarden.config.json',
    );
    expect(templates).toEqual([
      {
        key: 1,
        name: 'analyse',
        spec: { module: '/cfg/tasks/analyse.js', input: { file: 'a.png' }, name: 'analyse', cwd: '/cfg', graceMs: 500 },
      },
      {
        key: 2,
        name: 'job',
        spec: { command: 'python3', args: ['job.py', '--fast'], name: 'job', cwd: '/cfg/jobs', env: { A: '1' } },
      },
      { key: 3, name: 'spin', spec: { module: builtinModulePath('sync-loop'), name: 'spin', cwd: '/cfg' } },
      { key: 4, name: 'plate', spec: { module: '/cfg/tasks/analyse.js', reuse: 50, name: 'plate', cwd: '/cfg' } },
    ]);
  });

  it('names the problem', async () => {
    expect(await problem([])).toMatch(/expected an object \{"templates": \[\.\.\.\]\}, got an array/);
    expect(await problem({})).toMatch(/"templates" is missing/);
    expect(await problem({ templates: {} })).toMatch(/"templates" must be an array, got an object/);
    expect(await problem({ templates: [] })).toMatch(/"templates" is empty/);
    expect(
      await problem({ templates: Array.from({ length: 10 }, (_, i) => ({ name: `t${i}`, command: ['true'] })) }),
    ).toMatch(/has 10 entries; keys 1-9 start at most 9/);
    expect(await problem({ templates: [], extra: 1 })).toMatch(/unknown key "extra"/);
    expect(await problem({ templates: ['x'] })).toMatch(/templates\[0\]: expected an object, got a string/);
    expect(await problem({ templates: [{ name: 'x' }] })).toMatch(/templates\[0\]: needs "module" .* or "command"/);
    expect(await problem({ templates: [{ name: 'x', module: 'a.js', command: ['b'] }] })).toMatch(
      /both "module" and "command"/,
    );
    expect(await problem({ templates: [{ name: 'x', command: 'python3 job.py' }] })).toMatch(
      /templates\[0\]\.command: .*array like \["python3", "job.py"\]/,
    );
    expect(await problem({ templates: [{ name: 'x', command: [] }] })).toMatch(
      /templates\[0\]\.command: needs at least the program/,
    );
    expect(await problem({ templates: [{ name: 'ok', command: ['a'] }, { module: 'a.js' }] })).toMatch(
      /templates\[1\]\.name: required/,
    );
    expect(await problem({ templates: [{ name: 'x', module: 'a.js', inptu: {} }] })).toMatch(
      /templates\[0\]: unknown key "inptu"/,
    );
    expect(await problem({ templates: [{ name: 'x', module: 'a.js', graceMs: -1 }] })).toMatch(
      /templates\[0\]\.graceMs/,
    );
    expect(await problem({ templates: [{ name: 'x', module: 'a.js', reuse: 0 }] })).toMatch(
      /templates\[0\]\.reuse: must be true, false or the most tasks one runner may serve/,
    );
    expect(await problem({ templates: [{ name: 'x', command: ['a'], reuse: true }] })).toMatch(
      /templates\[0\]: unknown key "reuse"/,
    );
    expect(await problem({ templates: [{ name: 'x', module: 'builtin:nope' }] })).toMatch(
      /unknown built-in "nope" \(known: steady, cpu-burner/,
    );
  });

  it('loads ./taskwarden.config.json, or --config, or the defaults', async () => {
    const dir = tempDir();
    expect((await loadTemplates({ cwd: dir })).file).toBeUndefined();
    writeFileSync(
      path.join(dir, 'taskwarden.config.json'),
      JSON.stringify({ templates: [{ name: 'one', command: ['true'] }] }),
    );
    const loaded = await loadTemplates({ cwd: dir });
    expect(loaded.file).toBe(path.join(dir, 'taskwarden.config.json'));
    expect(loaded.templates.map((t) => t.name)).toEqual(['one']);
    writeFileSync(path.join(dir, 'other.json'), '{"templates": [{"name": "two", "command": ["true"]},]}');
    await expect(loadTemplates({ cwd: dir, config: 'other.json' })).rejects.toThrow(/other\.json: not valid JSON/);
    await expect(loadTemplates({ cwd: dir, config: 'missing.json' })).rejects.toThrow(/missing\.json: no such file/);
  });

  it('has nine default templates: analysis of growing size, then the misbehaving ones, all runnable', async () => {
    const templates = await defaultTemplates();
    expect(templates.map((t) => t.key)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(templates.slice(3, 6).map((t) => t.name)).toEqual([
      'stuck in a sync loop',
      'ignores SIGTERM',
      'fails now and then',
    ]);
    for (const t of templates) {
      if ('module' in t.spec)
        expect(existsSync(t.spec.module), `${t.name}: ${t.spec.module} (run npm run build)`).toBe(true);
    }
    for (const name of BUILTIN_MODULES) expect(existsSync(builtinModulePath(name))).toBe(true);
  });
});
