/**
 * A private redis-server for the cluster tests and benchmarks: Debian's package, on a Unix socket
 * in a temporary directory (no port to collide with), persisted with an fsync'd append-only file
 * so that a restart loses nothing. Stopped, restarted and frozen (SIGSTOP) on demand.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateRedis {
  /** The URL agents and clients are given: unix:///…/redis.sock */
  readonly url: string;
  readonly socket: string;
  readonly dir: string;
  readonly pid: number;
  /** SIGTERM (it writes its append-only file), then starts again on the same socket and data. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT: Redis unreachable without closing a connection. */
  freeze(): void;
  thaw(): void;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

/** One line saying how to get redis-server, for setups that cannot install it themselves. */
export const REDIS_MISSING =
  'redis-server is not installed: the cluster tests and benchmarks need it (Debian/Ubuntu: "sudo apt-get install -y redis-server"; npm test installs it itself when run as root)';

export function redisServerPath(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const binary = redisServerPath();
  if (!binary) throw new Error(REDIS_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'tw-redis-'));
  const socket = join(dir, 'redis.sock');
  const args = [
    '--port',
    '0',
    '--unixsocket',
    socket,
    '--unixsocketperm',
    '700',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--daemonize',
    'no',
    '--logfile',
    join(dir, 'redis.log'),
    '--loglevel',
    'warning',
  ];
  let child = await launch(binary, args, socket);
  const handle: PrivateRedis = {
    url: `unix://${socket}`,
    socket,
    dir,
    get pid() {
      return child.pid!;
    },
    async restart(downMs = 0) {
      await stopChild(child);
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      child = await launch(binary, args, socket);
    },
    stop: () => stopChild(child),
    freeze: () => void child.kill('SIGSTOP'),
    thaw: () => void child.kill('SIGCONT'),
    async dispose() {
      child.kill('SIGCONT');
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

async function launch(binary: string, args: string[], socket: string): Promise<ChildProcess> {
  rmSync(socket, { force: true });
  const child = spawn(binary, args, { stdio: 'ignore' });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) =>
      reject(
        new Error(
          `redis-server exited at start (${signal ?? `code ${code}`}); see its log in ${args[args.indexOf('--dir') + 1]}`,
        ),
      ),
    ),
  );
  exited.catch(() => {});
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (await answersPing(socket)) return child;
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 20)), exited]);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer on ${socket} within 20 s`);
}

async function answersPing(socket: string): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const connection = net.connect(socket);
    const done = (ok: boolean) => {
      connection.destroy();
      resolve(ok);
    };
    connection.once('error', () => done(false));
    connection.once('connect', () => connection.write('PING\r\n'));
    connection.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
