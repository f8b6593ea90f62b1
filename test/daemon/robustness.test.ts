/**
 * The daemon under bad clients: half-written messages, a bounded fuzz of
 * broken lines, a client that never reads; and its guarantees on disk:
 * socket 0600, directory 0700, one daemon per state directory.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { DaemonClient } from '../../src/daemon/client.js';
import { startDaemon, type DaemonHandle } from '../../src/daemon/server.js';
import { MAX_LINE_BYTES, PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { fixture, waitFor } from '../helpers.js';
import { CLI, RawClient, inProcessDaemon, tempHome } from './helpers.js';
import { spawnSync } from 'node:child_process';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const daemon = (options: Parameters<typeof startDaemon>[0] = {}): Promise<DaemonHandle> =>
  inProcessDaemon(cleanups, options);

async function raw(d: DaemonHandle, hello = true): Promise<RawClient> {
  const c = await RawClient.open(d.socketPath, hello);
  cleanups.push(() => c.close());
  return c;
}

/** Proof of life: a fresh client can list and run a task to completion. */
async function stillServes(d: DaemonHandle): Promise<void> {
  const c = await raw(d);
  expect((await c.request({ type: 'LIST' })).type).toBe('ACK');
  const id = (await c.request({ type: 'TASK_REQUEST', spec: { module: fixture('echo'), input: 'alive' } })).task.id;
  await waitFor(
    async () => (await c.request({ type: 'GET', taskId: id })).task.state === 'completed',
    15_000,
    'a task to complete',
  );
  expect(c.invalid).toEqual([]);
}

/** Small deterministic PRNG (mulberry32): the fuzz is reproducible. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('bad clients', () => {
  it('a client that disconnects mid-message affects nobody', async () => {
    const d = await daemon();
    const watcher = await raw(d);
    await watcher.request({ type: 'SUBSCRIBE' });
    for (let i = 0; i < 20; i++) {
      const s = net.createConnection(d.socketPath);
      await new Promise((r) => s.once('connect', r));
      s.write(
        `{"type":"HELLO","id":1,"version":${PROTOCOL_VERSION},"client":"x"}\n{"type":"TASK_REQUEST","id":2,"spec":{"module":"${fixture('echo')}"`,
      );
      if (i % 2) s.end();
      else s.destroy();
    }
    await stillServes(d);
    // None of the half-written TASK_REQUESTs ran: only stillServes' task exists.
    const list = await watcher.request({ type: 'LIST', includeFinished: true });
    expect(list.tasks).toHaveLength(1);
  });

  it('a half-closed client still gets the reply to a request in flight', async () => {
    const d = await daemon();
    const s = net.createConnection(d.socketPath);
    let out = '';
    s.setEncoding('utf8').on('data', (c: string) => (out += c));
    await new Promise((r) => s.once('connect', r));
    s.end(`{"type":"HELLO","id":1,"version":${PROTOCOL_VERSION},"client":"x"}\n{"type":"STOP_ALL","id":2}\n`);
    await new Promise((r) => s.once('close', r));
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).type),
    ).toEqual(['WELCOME', 'ACK']);
  });

  it('bounded fuzz: thousands of random, truncated, oversized, deeply nested and wrongly typed lines; one reply each; the daemon still serves', async () => {
    const d = await daemon();
    const c = await raw(d);
    const random = rng(42);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const junkValues = [
      null,
      true,
      -1,
      1.5,
      2 ** 60,
      '',
      'x'.repeat(300),
      [],
      {},
      [1, 'a'],
      { module: 3 },
      { command: [] },
    ];
    const templates = [
      { type: 'LIST' },
      { type: 'GET', taskId: '1' },
      { type: 'HISTORY', limit: 5 },
      { type: 'LOGS', taskId: '1' },
      { type: 'TASK_CANCEL', taskId: '1' },
      { type: 'TASK_KILL', taskId: 'x' },
      { type: 'UNSUBSCRIBE' },
      { type: 'TASK_REQUEST', spec: { module: 7 } },
      { type: 'HELLO', version: PROTOCOL_VERSION, client: 'fuzz' },
    ];
    const lines: string[] = [];
    const N = 3000;
    for (let i = 0; i < N; i++) {
      const kind = random();
      const message: Record<string, unknown> = { ...pick(templates), id: i };
      if (kind < 0.25) {
        lines.push(
          Array.from({ length: Math.floor(random() * 200) }, () =>
            String.fromCharCode(1 + Math.floor(random() * 0xfff0)),
          )
            .join('')
            .replace(/\n/g, ' ') || '?',
        );
      } else if (kind < 0.5) {
        const json = JSON.stringify(message);
        lines.push(json.slice(0, Math.max(1, Math.floor(random() * json.length))));
      } else if (kind < 0.85) {
        const keys = ['type', 'id', 'taskId', 'spec', 'limit', 'version', 'client', 'includeFinished'];
        message[pick(keys)] = pick(junkValues);
        lines.push(JSON.stringify(message));
      } else if (kind < 0.9) {
        // Deep nesting in a request that is otherwise valid: refused at the edge, never run.
        const depth = 65 + Math.floor(random() * 5000);
        lines.push(
          `{"type":"TASK_REQUEST","id":${i},"spec":{"module":"/nonexistent/task.mjs","input":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
        );
      } else if (kind < 0.905) {
        // Huge but within the line limit: parsed, answered, and nobody else starves meanwhile.
        lines.push(
          `{"type":"LIST","id":${i},"pad":"${'y'.repeat(Math.floor(MAX_LINE_BYTES * (0.5 + random() * 0.45)))}"}`,
        );
      } else if (kind < 0.995) {
        lines.push(JSON.stringify(pick([42, 'str', null, [message], { id: i }, { type: 'SHUTDOWN_NOT', id: i }])));
      } else {
        lines.push('{"type":"LIST","id":1,"pad":"' + 'x'.repeat(MAX_LINE_BYTES) + '"}');
      }
    }
    // Never a valid SHUTDOWN or STOP_ALL: the templates hold none, and junk never makes one.
    const t0 = Date.now();
    for (const line of lines) c.sendLine(line);
    await expect.poll(() => c.received.length, { timeout: 20_000, interval: 50 }).toBe(N);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(c.invalid).toEqual([]);
    const codes = new Set(c.received.filter((m) => m.type === 'ERROR').map((m) => m.code));
    expect([...codes].sort()).toEqual(
      expect.arrayContaining(['BAD_JSON', 'BAD_MESSAGE', 'LINE_TOO_LONG', 'UNKNOWN_TYPE']),
    );
    expect(codes.has('INTERNAL')).toBe(false);
    await stillServes(d);
  });

  it('a client that never reads is dropped while another keeps receiving', async () => {
    const logs: string[] = [];
    const d = await daemon({ maxClientBufferBytes: 256 * 1024, log: (m) => logs.push(m) });
    const stuck = await raw(d);
    await stuck.request({ type: 'SUBSCRIBE' });
    stuck.socket.pause(); // reads nothing from now on
    const reader = await DaemonClient.connect({ home: join(d.socketPath, '..'), autostart: false });
    cleanups.push(() => reader.close());
    await reader.subscribe();
    let events = 0;
    reader.on('event', () => (events += 1));
    const flood = (await reader.request('TASK_REQUEST', {
      spec: {
        command: 'sh',
        args: [
          '-c',
          'i=0; while [ $i -lt 40000 ]; do echo "line $i of a flood that fills a slow client buffer"; i=$((i+1)); done',
        ],
      },
    })) as { task: { id: string } };
    await waitFor(
      () => logs.some((m) => /dropped: \d+ bytes unread/.test(m)),
      20_000,
      'the stuck client to be dropped',
    );
    const done = await waitFor(
      async () => ((await reader.request('GET', { taskId: flood.task.id })) as any).task.state === 'completed',
      20_000,
      'the flood to end',
    );
    expect(done).toBe(true);
    expect(events).toBeGreaterThan(40_000);
    expect(reader.closed).toBe(false);
  });
});

describe('state directory', () => {
  it('directory created 0700, socket 0600, journal 0600', async () => {
    const h = tempHome();
    cleanups.push(h.cleanup);
    const dir = join(h.home, 'state');
    const d = await startDaemon({ home: dir, log: () => {} });
    cleanups.push(() => d.close());
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const socket = statSync(d.socketPath);
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'journal.db')).mode & 0o777).toBe(0o600);
  });

  it('a second daemon on the same directory is refused, naming the first', async () => {
    const d = await daemon();
    const home = join(d.socketPath, '..');
    await expect(startDaemon({ home, log: () => {} })).rejects.toThrow(
      `a taskwarden daemon (pid ${process.pid}) already serves ${home}`,
    );
    const cli = spawnSync(process.execPath, [CLI, '--home', home, 'daemon', '--foreground'], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain(`a taskwarden daemon (pid ${process.pid}) already serves ${home}`);
    await stillServes(d);
  });

  it('a socket path over the sun_path limit is a clear error', async () => {
    const h = tempHome();
    cleanups.push(h.cleanup);
    await expect(startDaemon({ home: join(h.home, 'x'.repeat(100)), log: () => {} })).rejects.toThrow(
      /longer than the 107 a Unix socket allows.*shorter state directory/,
    );
  });
});
