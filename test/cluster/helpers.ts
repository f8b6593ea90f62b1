/**
 * Cluster test helpers: a private redis-server, agents as real separate processes (the CLI's
 * `agent` command), a ClusterClient, and the files the fixtures write.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startPrivateRedis, type PrivateRedis } from '../../bench/lib/redis-server.js';
import { ClusterClient, type ClusterTaskSnapshot } from '../../src/cluster/index.js';
import { isAlive, sleep, waitFor } from '../helpers.js';

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export function clusterFixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}.mjs`, import.meta.url));
}

export function testFixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}.mjs`, import.meta.url));
}

export interface AgentOptions {
  concurrency?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  graceMs?: number;
  /** Connect through this URL instead of Redis's own (a proxy). */
  url?: string;
  /** A command the agent runs under, e.g. ['nsenter', '--net=/run/netns/x'] (it must exec node). */
  wrap?: string[];
}

export interface AgentProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  readonly exited: Promise<void>;
}

export interface TestCluster {
  readonly redis: PrivateRedis;
  readonly url: string;
  readonly queue: string;
  /** Scratch directory for fixtures (starts, done, violations). */
  readonly dir: string;
  readonly agents: AgentProcess[];
  readonly client: ClusterClient;
  startAgent(name: string, options?: AgentOptions): Promise<AgentProcess>;
  lines(file: string): string[];
  dispose(): Promise<void>;
}

// A 4 s lock: a renewal may wait a second on a busy machine (npm run test:stress) without a false lease loss.
export const DEFAULT_AGENT: AgentOptions = {
  concurrency: 2,
  lockDurationMs: 4000,
  stalledIntervalMs: 500,
  graceMs: 1500,
};

export async function startCluster(agentCount: number, options: AgentOptions = {}): Promise<TestCluster> {
  const redis = await startPrivateRedis();
  const dir = mkdtempSync('/tmp/twc-');
  const queue = 'q';
  const agents: AgentProcess[] = [];
  const client = await ClusterClient.connect({ redis: redis.url, queue });
  const cluster: TestCluster = {
    redis,
    url: redis.url,
    queue,
    dir,
    agents,
    client,
    async startAgent(name, agentOptions = {}) {
      const agent = await startAgentProcess(redis.url, queue, `${dir}/${name}`, name, {
        ...DEFAULT_AGENT,
        ...options,
        ...agentOptions,
      });
      agents.push(agent);
      return agent;
    },
    lines(file) {
      const path = `${dir}/${file}`;
      return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
    },
    async dispose() {
      client.close();
      for (const agent of agents) agent.child.kill('SIGKILL');
      await Promise.all(agents.map((agent) => agent.exited));
      await redis.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(Array.from({ length: agentCount }, (_, i) => cluster.startAgent(`a${i + 1}`)));
  } catch (error) {
    await cluster.dispose();
    throw error;
  }
  return cluster;
}

async function startAgentProcess(
  url: string,
  queue: string,
  home: string,
  name: string,
  options: AgentOptions,
): Promise<AgentProcess> {
  const args = [CLI, '--home', home, '--queue', queue, 'agent', '--redis', options.url ?? url, '--name', name];
  if (options.concurrency) args.push('--concurrency', String(options.concurrency));
  if (options.lockDurationMs) args.push('--lock-duration', String(options.lockDurationMs));
  if (options.stalledIntervalMs) args.push('--stalled-interval', String(options.stalledIntervalMs));
  if (options.graceMs) args.push('--grace-ms', String(options.graceMs));
  const [command, ...prefix] = [...(options.wrap ?? []), process.execPath];
  const child = spawn(command, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (data) => (output += data));
  child.stderr.on('data', (data) => (output += data));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(() => output.includes('ready:') || child.exitCode !== null, 30_000, `agent ${name} to be ready`);
  if (!output.includes('ready:')) throw new Error(`agent ${name} did not start:\n${output}`);
  return { name, child, pid: child.pid!, output: () => output, exited };
}

/** The task's given attempt running, with its pid, as the cluster reports it. */
export function running(c: TestCluster, id: string, attempt = 1): Promise<ClusterTaskSnapshot> {
  return waitFor(
    async () => {
      const task = await c.client.get(id);
      return task.state === 'running' && task.attempt === attempt && task.pid !== undefined ? task : undefined;
    },
    30_000,
    `task ${id} attempt ${attempt} to run`,
  );
}

/**
 * The attempt's own word that its module runs: its line in <dir>/starts (the exclusive fixture's),
 * with the pid that wrote it. The record says running from the spawn, before the module's first
 * line: a stop right after running() may end the attempt before it writes anything.
 */
export async function started(c: TestCluster, id: string, attempt = 1): Promise<{ pid: number }> {
  const line = await waitFor(
    () => c.lines('starts').find((each) => each.startsWith(`${id} ${attempt} `)),
    30_000,
    `task ${id} attempt ${attempt} to write its start line`,
  );
  return { pid: Number(line.split(' ')[2]) };
}

/** How long until the process is gone (read from /proc). */
export async function msUntilGone(pid: number, limitMs = 30_000): Promise<number> {
  const start = performance.now();
  await waitFor(() => !isAlive(pid), limitMs, `process ${pid} to be gone`);
  return performance.now() - start;
}

/** How an agent is cut off from Redis, and how it is let back. */
export interface CutOff {
  /** Starts the agent to be cut off (c.agents[0]), with its way to Redis. */
  startFar(c: TestCluster): Promise<unknown>;
  cut(): void;
  mend(): void;
}

/**
 * The cut-off scenario, whatever cuts: the agent holding a job loses Redis; it must stop its task
 * before its lock (renewed up to the cut) can expire, the job must run again on an agent that
 * still reaches Redis, and what the cut-off agent says once it is back must be fenced out.
 */
export async function expectCutOffAgentFenced(c: TestCluster, lockDurationMs: number, way: CutOff): Promise<void> {
  await way.startFar(c);
  const far = c.agents[0].name;
  // The first attempt outlasts whatever the cut waits for (the near agent's start, on a busy
  // machine: seconds); the second one ends on its own while the test watches.
  const input = { dir: c.dir, firstMs: 600_000, ms: 8000 };
  const task = await c.client.submit({ module: clusterFixture('exclusive'), input });
  const first = await running(c, task.id);
  expect(first.host).toBe(far);
  // The first attempt's marker written: the second one's check for it is not vacuous.
  expect((await started(c, task.id)).pid).toBe(first.pid);
  await c.startAgent('near');
  way.cut();
  expect(await msUntilGone(first.pid!)).toBeLessThan(lockDurationMs);
  const second = await running(c, task.id, 2);
  expect(second.host).toBe('near');
  way.mend();
  const end = await waitFor(
    async () => {
      const now = await c.client.get(task.id);
      return now.state === 'completed' ? now : undefined;
    },
    60_000,
    'the job to complete on the agent that still reaches Redis',
  );
  // What the cut-off agent still had to say goes in once it is back, and is fenced out.
  await sleep(1500);
  const final = await c.client.get(task.id);
  expect(final).toMatchObject({ state: 'completed', host: 'near', attempt: 2 });
  expect(final.outcome?.result).toEqual(end.outcome?.result);
  expect(c.agents[0].output()).toContain('stopped before the lock could expire');
  expect(c.lines('violations')).toEqual([]);
}

/** The CLI against this cluster (`--cluster URL --queue Q ...args`), run to its end. */
export function clusterCli(c: TestCluster, ...args: string[]) {
  return spawnSync(process.execPath, [CLI, '--cluster', c.url, '--queue', c.queue, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}
