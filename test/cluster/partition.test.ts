/**
 * A real network partition. An agent runs in a network namespace of its own and reaches Redis by
 * TCP over a veth pair; taking the link down drops every packet and closes no connection, as a
 * cut cable or a silent switch does (the proxy in failures.test.ts stands in for this on one
 * socket; here the kernel's network stack is in the way). The cut-off agent must stop its task
 * before its lock can expire, the job must run on an agent that still reaches Redis, and what the
 * cut-off agent says once the link is back must be fenced out.
 *
 * Needs root and iproute2's `ip` (CI has both, as every machine of this project's kind): where
 * either is missing, the test fails with the command that failed and why, never a silent skip.
 */
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { expectCutOffAgentFenced, startCluster, type TestCluster } from './helpers.js';

let cluster: TestCluster | undefined;
let partition: Partition | undefined;
let bridge: TcpBridge | undefined;

afterEach(async () => {
  await bridge?.close();
  await cluster?.dispose();
  partition?.dispose();
  bridge = undefined;
  cluster = undefined;
  partition = undefined;
});

function ip(...args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.status !== 0) {
    const why = result.error?.message ?? result.stderr.trim();
    throw new Error(
      `"ip ${args.join(' ')}" failed (${why}): this test needs root and iproute2 (apt-get install iproute2)`,
    );
  }
}

interface Partition {
  /** The namespace's name, under /run/netns. */
  readonly name: string;
  /** This side's address, on the host end of the link. */
  readonly hostIp: string;
  cut(): void;
  mend(): void;
  dispose(): void;
}

/** A namespace with one veth link to this one: 10.231.N.2 there, 10.231.N.1 here. */
function createPartition(): Partition {
  const name = `tw${process.pid % 100_000}`;
  const subnet = `10.231.${process.pid % 250}`;
  const hostLink = `${name}h`;
  const farLink = `${name}f`;
  const dispose = () => {
    // Deleting the namespace deletes its end of the link, and with it this end.
    spawnSync('ip', ['netns', 'del', name]);
    spawnSync('ip', ['link', 'del', hostLink]);
  };
  dispose(); // what a run killed midway by the same pid left
  ip('netns', 'add', name);
  ip('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', farLink);
  ip('link', 'set', farLink, 'netns', name);
  ip('addr', 'add', `${subnet}.1/30`, 'dev', hostLink);
  ip('link', 'set', hostLink, 'up');
  ip('-n', name, 'addr', 'add', `${subnet}.2/30`, 'dev', farLink);
  ip('-n', name, 'link', 'set', farLink, 'up');
  ip('-n', name, 'link', 'set', 'lo', 'up');
  return {
    name,
    hostIp: `${subnet}.1`,
    // The far end keeps its address and route: its packets are dropped at the link, unanswered.
    cut: () => ip('link', 'set', hostLink, 'down'),
    mend: () => ip('link', 'set', hostLink, 'up'),
    dispose,
  };
}

interface TcpBridge {
  readonly port: number;
  close(): Promise<void>;
}

/** Redis listens on a Unix socket only: this carries TCP on the host end of the link to it. */
async function tcpBridge(host: string, redisSocket: string): Promise<TcpBridge> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(redisSocket);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined).on('close', () => (client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('a cluster across a real network partition', () => {
  it('an agent cut off by its network stops its task before the lock can expire; the job runs elsewhere, and the cut-off agent cannot overwrite it', async () => {
    const lockDurationMs = 6000;
    const c = (cluster = await startCluster(0, { lockDurationMs, stalledIntervalMs: 500 }));
    const far = (partition = createPartition());
    const tcp = (bridge = await tcpBridge(far.hostIp, c.redis.socket));
    await expectCutOffAgentFenced(c, lockDurationMs, {
      // nsenter changes the network namespace only: the agent keeps this machine's cgroups and /proc.
      startFar: async () => {
        await c.startAgent('far', {
          url: `redis://${far.hostIp}:${tcp.port}`,
          wrap: ['nsenter', `--net=/run/netns/${far.name}`],
        });
        expect(readlinkSync(`/proc/${c.agents[0].pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
      },
      cut: () => far.cut(),
      mend: () => far.mend(),
    });
  }, 120_000);
});
