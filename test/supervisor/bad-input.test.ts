/** Bad input gets a clear error and harms nothing: the supervisor keeps working. */
import { afterAll, describe, expect, it } from 'vitest';
import { Supervisor } from '../../src/index.js';
import { fixture } from '../helpers.js';

const sup = new Supervisor({ graceMs: 300, prewarm: 1, stallAfterMs: Infinity });
afterAll(() => sup.shutdown());

describe('bad task modules fail the task with a clear error', () => {
  it('missing module', async () => {
    const outcome = await sup.start({ module: '/nonexistent/task.mjs' }).done;
    expect(outcome.state).toBe('failed');
    expect(outcome.error?.code).toBe('MODULE_NOT_FOUND');
    expect(outcome.error?.message).toContain('/nonexistent/task.mjs');
  });
  it('module without a task', async () => {
    const outcome = await sup.start({ module: fixture('no-task') }).done;
    expect(outcome.error).toMatchObject({ code: 'NO_TASK_EXPORT' });
    expect(outcome.error?.message).toMatch(/defineTask/);
  });
  it('syntax error', async () => {
    const outcome = await sup.start({ module: fixture('syntax-error') }).done;
    expect(outcome.state).toBe('failed');
    expect(outcome.error?.code).toBe('MODULE_SYNTAX_ERROR');
    expect(outcome.error?.message).toContain('syntax-error.mjs');
  });
  it('a task that throws: its message and stack come back', async () => {
    const outcome = await sup.start({ module: fixture('throws') }).done;
    expect(outcome.error).toMatchObject({ name: 'RangeError', message: 'tile 7 is out of range' });
    expect(outcome.error?.stack).toContain('throws.mjs');
  });
  it('a non-clonable result', async () => {
    const outcome = await sup.start({ module: fixture('bad-result') }).done;
    expect(outcome.state).toBe('failed');
    expect(outcome.error?.code).toBe('RESULT_NOT_CLONABLE');
  });
  it('a task that exits mid-way', async () => {
    const outcome = await sup.start({ module: fixture('exits-midway') }).done;
    expect(outcome).toMatchObject({ state: 'failed', exitCode: 3, error: { code: 'EXIT_CODE' } });
  });
  it('a command that does not exist', async () => {
    const outcome = await sup.start({ command: 'no-such-command-xyz' }).done;
    expect(outcome.error).toMatchObject({ code: 'COMMAND_NOT_FOUND' });
    expect(outcome.error?.message).toContain('no-such-command-xyz');
  });
  it('a command failing with an exit code', async () => {
    const outcome = await sup.start({ command: 'sh', args: ['-c', 'exit 7'] }).done;
    expect(outcome).toMatchObject({ state: 'failed', exitCode: 7 });
  });
  it('the supervisor still runs good tasks afterwards', async () => {
    const outcome = await sup.start({ module: fixture('echo'), input: { n: 1 } }).done;
    expect(outcome.state).toBe('completed');
  });
});

describe('bad arguments throw a TypeError at the call', () => {
  it.each([
    [{}, /exactly one of "module"/],
    [{ module: 'a.mjs', command: 'ls' }, /exactly one of/],
    [{ module: 42 }, /^task spec "module": expected string, got number$/],
    [{ module: '' }, /^task spec "module": must not be empty$/],
    [{ command: 'ls', args: [1] }, /^task spec "args\[0\]": expected string, got number$/],
    [{ module: 'a.mjs', args: ['x'] }, /^task spec "args": goes with "command"/],
    [{ command: 'ls', env: { A: 1 } }, /^task spec "env.A": expected string, got number$/],
    [
      { module: 'a.mjs', timeoutMs: -1 },
      /^task spec "timeoutMs": must be a non-negative whole number of milliseconds$/,
    ],
    [{ module: 'a.mjs', name: 'n'.repeat(201) }, /^task spec "name": longer than 200 characters$/],
    [{ module: 'a.mjs', input: { f: () => 1 } }, /not structured-clonable/],
  ])('start(%j)', (spec, message) => {
    expect(() => sup.start(spec as never)).toThrow(TypeError);
    expect(() => sup.start(spec as never)).toThrow(message);
  });
  it.each([
    [{ concurrency: 0 }, /concurrency must be a positive integer/],
    [{ graceMs: -5 }, /graceMs must be a non-negative/],
    [{ onStall: 'explode' }, /onStall must be/],
    [{ nice: 25 }, /nice must be an integer from 0 to 19/],
    [{ prewarm: 1.5 }, /prewarm must be a non-negative integer/],
  ])('new Supervisor(%j)', (options, message) => {
    expect(() => new Supervisor(options as never)).toThrow(message);
  });
  it.each([
    [{ attempt: 0 }, /option attempt must be an integer >= 1, got 0/],
    [{ attempt: 1.5 }, /option attempt must be an integer >= 1/],
    [{ createdAt: Number.NaN }, /option createdAt must be a time in ms/],
    [{ id: '' }, /task id "" is not a new task id \(1-64 of A-Z a-z 0-9 _ -;/],
    // The id becomes a log file's name and travels in every event: the one task-id rule holds here too.
    [{ id: '../etc' }, /task id "..\/etc" is not a new task id/],
  ])('start(spec, %j)', (options, message) => {
    expect(() => sup.start({ module: fixture('echo') }, options as never)).toThrow(TypeError);
    expect(() => sup.start({ module: fixture('echo') }, options as never)).toThrow(message);
  });
  it('unknown ids name the id', () => {
    expect(() => sup.cancel('nope')).toThrow(/unknown task id "nope"/);
  });
});

/** `[[[...leaf...]]]`, `depth` arrays deep (built in a loop: a recursive builder would overflow first). */
function nested(depth: number, wrap: (inner: unknown) => unknown = (inner) => [inner]): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = wrap(value);
  return value;
}

describe('limits: input depth and timer delays', () => {
  it('an input nested 3242 deep is a TypeError naming "input", the limit and what to do; the supervisor carries on', async () => {
    for (const input of [nested(3242), nested(3242, (inner) => ({ a: inner })), nested(65)]) {
      expect(() => sup.start({ module: fixture('echo'), input })).toThrow(TypeError);
      expect(() => sup.start({ module: fixture('echo'), input })).toThrow(
        /task spec "input": nests arrays\/objects more than 64 levels deep.*write the data to a file/,
      );
    }
    expect(sup.list().filter((t) => t.state === 'queued')).toEqual([]);
    // At the limit it runs, and comes back whole.
    const outcome = await sup.start({ module: fixture('echo'), input: nested(64) }).done;
    expect(outcome.state).toBe('completed');
    expect((outcome.result as { input: unknown }).input).toEqual(nested(64));
  });

  it('a shared or cyclic input counts as the serializer sees it (a back-reference is not a level)', async () => {
    const cyclic: Record<string, unknown> = { name: 'node' };
    cyclic.self = cyclic;
    const shared = nested(40);
    const outcome = await sup.start({ module: fixture('echo'), input: { a: shared, b: [shared], cyclic } }).done;
    expect(outcome.state).toBe('completed');
  });

  it.each(['timeoutMs', 'graceMs'])(
    'spec %s above 2^31-1 ms is a TypeError naming it and the maximum (Node would fire it after 1 ms)',
    (key) => {
      for (const value of [2 ** 31, 3e9]) {
        const spec = { command: 'sleep', args: ['5'], [key]: value };
        expect(() => sup.start(spec)).toThrow(TypeError);
        expect(() => sup.start(spec)).toThrow(`task spec "${key}": must be at most 2147483647 ms (about 24.8 days`);
      }
    },
  );

  it('timeoutMs of exactly 2^31-1 ms is accepted and does not fire early', async () => {
    const outcome = await sup.start({ command: 'sleep', args: ['0.3'], timeoutMs: 2 ** 31 - 1, graceMs: 2 ** 31 - 1 })
      .done;
    expect(outcome).toMatchObject({ state: 'completed', exitCode: 0 });
  });

  it.each(['graceMs', 'sampleIntervalMs', 'progressIntervalMs'])(
    'Supervisor option %s above 2^31-1 ms is a TypeError naming it and the maximum',
    (key) => {
      expect(() => new Supervisor({ [key]: 3e9 })).toThrow(TypeError);
      expect(() => new Supervisor({ [key]: 3e9 })).toThrow(
        `Supervisor option ${key} must be at most 2147483647 ms (about 24.8 days`,
      );
    },
  );

  it('stallAfterMs stays unbounded (it never becomes a timer delay) and Infinity still disables the watchdog', () => {
    for (const stallAfterMs of [3e9, Infinity]) void new Supervisor({ stallAfterMs, prewarm: 0 }).shutdown();
  });
});

describe('module formats', () => {
  it('a module with top-level await loads through import()', async () => {
    expect(await sup.start({ module: fixture('top-level-await') }).done).toMatchObject({
      state: 'completed',
      result: 'tla ok',
    });
  });
  it('a CommonJS task module', async () => {
    const path = fixture('commonjs-task').replace(/\.mjs$/, '.cjs');
    expect(await sup.start({ module: path, input: 5 }).done).toMatchObject({
      state: 'completed',
      result: { cjs: true, input: 5 },
    });
  });
});

describe('a start that cannot be carried out fails its own task only', () => {
  it('an input the IPC serializer refuses (a SharedArrayBuffer) fails the task with INPUT_NOT_SENDABLE; the supervisor runs on', async () => {
    const sup = new Supervisor({ prewarm: 1 });
    try {
      // structuredClone takes it, so start() accepts it; Node's IPC serializer throws when it is sent.
      const bad = sup.start({ module: fixture('echo'), input: { shared: new SharedArrayBuffer(8) } });
      const outcome = await bad.done;
      expect(outcome.state).toBe('failed');
      expect(outcome.error).toMatchObject({ code: 'INPUT_NOT_SENDABLE' });
      expect(outcome.error!.message).toMatch(
        /task \d+ could not be started: its input cannot be sent to the task process/,
      );
      const good = sup.start({ module: fixture('echo'), input: 'still here' });
      expect(await good.done).toMatchObject({ state: 'completed', result: { input: 'still here' } });
    } finally {
      await sup.shutdown();
    }
  });
});
