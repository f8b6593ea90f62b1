/**
 * One task-spec schema (src/supervisor/spec.ts) with one set of limits: a spec at a limit is
 * accepted, and one just past it refused naming the same field and limit, by the Supervisor
 * (start()), by the daemon (TASK_REQUEST over a real socket) and by the UI's template config.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient, DaemonError, Supervisor } from '../src/index.js';
import { MAX_ENV_VARS, MAX_NAME_CHARS } from '../src/supervisor/spec.js';
import { MAX_TIMER_MS } from '../src/supervisor/limits.js';
import { MAX_INPUT_BYTES } from '../src/protocol/limits.js';
import { ConfigError, parseConfig } from '../src/tui/config.js';
import { inProcessDaemon } from './daemon/helpers.js';
import { fixture } from './helpers.js';

const cleanups: Array<() => unknown> = [];
let sup: Supervisor;
let client: DaemonClient;

beforeAll(async () => {
  sup = new Supervisor({ prewarm: 0 });
  const daemon = await inProcessDaemon(cleanups);
  client = await DaemonClient.connect({ home: daemon.home, autostart: false });
});

afterAll(async () => {
  client?.close();
  await sup?.shutdown();
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const env = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, k) => [`V${k}`, 'x']));

/** Each limit: the spec fields at it, the same just past it, and what every door says about the latter. */
const LIMITS = [
  {
    field: 'name',
    at: { name: 'n'.repeat(MAX_NAME_CHARS) },
    past: { name: 'n'.repeat(MAX_NAME_CHARS + 1) },
    says: `"name": longer than ${MAX_NAME_CHARS} characters`,
  },
  {
    field: 'timeoutMs',
    at: { timeoutMs: MAX_TIMER_MS },
    past: { timeoutMs: MAX_TIMER_MS + 1 },
    says: '"timeoutMs": must be at most 2147483647 ms',
  },
  {
    field: 'graceMs',
    at: { graceMs: 0 },
    past: { graceMs: -1 },
    says: '"graceMs": must be a non-negative whole number of milliseconds',
  },
  {
    field: 'env',
    at: { env: env(MAX_ENV_VARS) },
    past: { env: env(MAX_ENV_VARS + 1) },
    says: `"env": ${MAX_ENV_VARS + 1} variables, more than the ${MAX_ENV_VARS}`,
  },
];

/** What each door answers for a module spec with these extra fields: 'ok', or its error message. */
async function supervisorSays(fields: object): Promise<string> {
  try {
    const task = sup.start({
      module: fixture('echo'),
      ...fields,
      name: 'name' in fields ? (fields as { name: string }).name : 'x',
    });
    task.kill();
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as Error).message;
  }
}

async function daemonSays(fields: object): Promise<string> {
  try {
    const { task } = await client.request('TASK_REQUEST', { spec: { module: fixture('echo'), name: 'x', ...fields } });
    await client.request('TASK_KILL', { taskId: task.id });
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(DaemonError);
    expect((error as DaemonError).code).toBe('BAD_MESSAGE');
    return (error as Error).message;
  }
}

async function templateSays(fields: object): Promise<string> {
  try {
    await parseConfig(
      { templates: [{ name: 'x', module: '/abs/task.mjs', ...fields }] },
      '/tmp/taskwarden.config.json',
    );
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problem;
  }
}

describe('one spec schema: the same limits from the supervisor, the daemon and the UI config', () => {
  it.each(LIMITS)(
    '$field: at the limit all accept; past it all refuse, naming the field and the limit',
    async ({ at, past, says }) => {
      expect([await supervisorSays(at), await daemonSays(at), await templateSays(at)]).toEqual(['ok', 'ok', 'ok']);
      const answers = [await supervisorSays(past), await daemonSays(past), await templateSays(past)];
      expect(answers[0]).toContain(`task spec ${says}`);
      expect(answers[1]).toContain(`TASK_REQUEST.spec.${says.replace(/^"(\w+)"/, '$1')}`);
      expect(answers[2]).toContain(`templates[0].${says.replace(/^"(\w+)"/, '$1')}`);
    },
  );

  it("input size is the wire's limit: the daemon and the templates (started through it) refuse past it, the in-process Supervisor does not", async () => {
    const past = { input: 'x'.repeat(MAX_INPUT_BYTES) }; // two quotes more than the limit as JSON
    expect(await supervisorSays(past)).toBe('ok');
    expect(await daemonSays(past)).toContain(
      `TASK_REQUEST.spec.input: ${MAX_INPUT_BYTES + 2} bytes of JSON, more than the ${MAX_INPUT_BYTES}`,
    );
    expect(await templateSays(past)).toContain(`templates[0].input: ${MAX_INPUT_BYTES + 2} bytes of JSON`);
    const at = { input: 'x'.repeat(MAX_INPUT_BYTES - 2) };
    expect([await daemonSays(at), await templateSays(at)]).toEqual(['ok', 'ok']);
  });
});
