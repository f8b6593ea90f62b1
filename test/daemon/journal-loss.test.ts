/**
 * A journal that lost tasks its logs still have: a
 * journal truncated to 0 bytes, or replaced by an older copy. New task ids must
 * not start again at 1, and no task's log may ever be appended to another
 * run's file. Real daemons in child processes, real files.
 */
import { copyFileSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RawClient, spawnDaemon, tempHome, type Msg } from './helpers.js';
import { waitFor } from '../helpers.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

type Daemon = Awaited<ReturnType<typeof spawnDaemon>>;

async function start(home: string): Promise<{ daemon: Daemon; client: RawClient }> {
  const daemon = await spawnDaemon(home);
  cleanups.push(() => void daemon.child.kill('SIGKILL'));
  const client = await RawClient.open(join(home, 'daemon.sock'));
  cleanups.push(() => client.close());
  return { daemon, client };
}

async function stop({ daemon, client }: { daemon: Daemon; client: RawClient }): Promise<void> {
  expect((await client.request({ type: 'SHUTDOWN' })).type).toBe('ACK');
  expect(await daemon.exited).toBe(0);
  client.close();
}

async function completed(client: RawClient, id: string, attempt = 1): Promise<void> {
  await waitFor(
    async () => {
      const task = (await client.request({ type: 'GET', taskId: id })).task as Msg;
      return task.attempt === attempt && task.state === 'completed';
    },
    20_000,
    `task ${id} attempt ${attempt} to complete`,
  );
}

async function run(client: RawClient, text: string): Promise<string> {
  const id = (await client.request({ type: 'TASK_REQUEST', spec: { command: 'sh', args: ['-c', `echo ${text}`] } }))
    .task.id as string;
  await completed(client, id);
  return id;
}

async function logLines(client: RawClient, id: string, attempt?: number): Promise<string[]> {
  const reply = await client.request({ type: 'LOGS', taskId: id, ...(attempt === undefined ? {} : { attempt }) });
  expect(reply.type).toBe('ACK');
  return (reply.lines as Array<{ line: string }>).map((l) => l.line);
}

/** A journal without its -wal/-shm (a clean shutdown removes them; make sure). */
function dropSidecars(home: string): void {
  for (const suffix of ['-wal', '-shm']) rmSync(join(home, `journal.db${suffix}`), { force: true });
}

describe('a journal that lost what its logs still have', () => {
  it('truncated to 0 bytes: new ids continue past the logs (said in the daemon log) and LOGS shows only the new output', async () => {
    const h = tempHome();
    cleanups.push(h.cleanup);
    const first = await start(h.home);
    const oldIds = [await run(first.client, 'old-output-a'), await run(first.client, 'old-output-b')];
    expect(oldIds).toEqual(['1', '2']);
    await stop(first);

    truncateSync(join(h.home, 'journal.db'), 0);
    dropSidecars(h.home);

    const second = await start(h.home);
    const id = await run(second.client, 'new-output');
    expect(id).toBe('3');
    expect(await logLines(second.client, id)).toEqual(['new-output']);
    expect(second.daemon.output()).toContain('knows no task id above 0 but');
    expect(second.daemon.output()).toContain(
      'holds logs of task 2: the journal was emptied or replaced; new task ids continue from 3',
    );
    // The old tasks' logs are still there, untouched.
    expect(readdirSync(join(h.home, 'logs')).sort()).toEqual(['1.1.log', '2.1.log', '3.1.log']);
    await stop(second);
  });

  it('replaced by an older copy: a restart never appends to the log a later run of the same attempt left', async () => {
    const h = tempHome();
    cleanups.push(h.cleanup);
    const journal = join(h.home, 'journal.db');
    const first = await start(h.home);
    const id = await run(first.client, 'one-line');
    await stop(first);
    copyFileSync(journal, join(h.home, 'journal.backup'));

    // Attempt 2 runs and leaves logs/<id>.2.log.
    const second = await start(h.home);
    expect((await second.client.request({ type: 'TASK_RESTART', taskId: id })).type).toBe('ACK');
    await completed(second.client, id, 2);
    expect(await logLines(second.client, id, 2)).toEqual(['one-line']);
    await stop(second);

    // The journal goes back to before attempt 2: the next restart is attempt 2 again.
    copyFileSync(join(h.home, 'journal.backup'), journal);
    dropSidecars(h.home);
    const third = await start(h.home);
    expect((await third.client.request({ type: 'TASK_RESTART', taskId: id })).type).toBe('ACK');
    await completed(third.client, id, 2);
    expect(await logLines(third.client, id, 2)).toEqual(['one-line']);
    await waitFor(
      () => third.daemon.output().includes('was left by an earlier task with the same id and attempt'),
      10_000,
      'the daemon to say so',
    );
    const aside = readdirSync(join(h.home, 'logs')).filter((name) => name.startsWith(`${id}.2.log.orphaned-`));
    expect(aside).toHaveLength(1);
    await stop(third);
  });
});
