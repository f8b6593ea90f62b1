/** Daemon test helpers: short temp homes, a raw line client that validates every daemon message, a daemon in a child process. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import {
  parseDaemonMessage,
  parseReply,
  PROTOCOL_VERSION,
  REQUEST_SCHEMAS,
  type RequestType,
} from '../../src/protocol/index.js';
import { startDaemon, type DaemonHandle } from '../../src/daemon/server.js';
import { waitFor } from '../helpers.js';

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** Under /tmp, short: the socket path must stay under 107 bytes. */
export function tempHome(): { home: string; cleanup: () => void } {
  const home = mkdtempSync('/tmp/twd-');
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/**
 * A state directory on a tmpfs of its own (tests run as root), so a test can fill the disk:
 * fill() writes a file until ENOSPC (and pads the files named to their last page), free()
 * removes that file. cleanup() unmounts (lazily, in case a process still holds a file there)
 * and removes the mount point.
 */
export function tmpfsHome(sizeKiB = 1024): {
  home: string;
  fill: (...slack: string[]) => number;
  free: () => void;
  cleanup: () => void;
} {
  const home = mkdtempSync('/tmp/twf-');
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', home], {
    encoding: 'utf8',
  });
  if (mount.status !== 0) {
    rmSync(home, { recursive: true, force: true });
    throw new Error(`cannot mount a tmpfs on ${home} (the test needs root): ${mount.stderr.trim()}`);
  }
  const filler = `${home}/filler`;
  return {
    home,
    /**
     * Writes until the disk is full, ever smaller chunks down to one byte. A file keeps growing
     * into the rest of its last page after that: `slack` files (e.g. daemon.log) get newlines
     * until their pages are full too, so no write anywhere can succeed. Returns the bytes written.
     */
    fill(...slack: string[]) {
      let written = fillFile(filler, 0x78);
      for (const path of slack) written += fillFile(path, 0x0a);
      return written;
    },
    free() {
      rmSync(filler, { force: true });
    },
    cleanup() {
      spawnSync('umount', ['-l', home]);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

function fillFile(path: string, byte: number): number {
  const fd = openSync(path, 'a');
  let written = 0;
  try {
    for (let chunk = 64 * 1024; chunk >= 1;) {
      try {
        written += writeSync(fd, Buffer.alloc(chunk, byte));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        chunk = Math.floor(chunk / 2);
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

export type Msg = Record<string, any>;

/**
 * A client speaking raw lines. Every line the daemon sends must parse as a valid daemon message,
 * and every ACK must have the shape its request type is answered with (protocol/replies.ts).
 */
export class RawClient {
  readonly socket: net.Socket;
  readonly received: Msg[] = [];
  /** Every message received, in order (next() takes from `received` only). */
  readonly all: Msg[] = [];
  readonly invalid: string[] = [];
  closed = false;
  #buffer = '';
  #nextId = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static async open(path: string, hello = true): Promise<RawClient> {
    const socket = net.createConnection(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    if (hello) {
      const welcome = await client.request({ type: 'HELLO', version: PROTOCOL_VERSION, client: 'test' });
      expect(welcome.type).toBe('WELCOME');
    }
    return client;
  }

  sendLine(line: string): void {
    this.socket.write(`${line}\n`);
  }

  /** Sends a request (an id is added unless given) and returns its reply. */
  async request(message: Msg, timeoutMs = 10_000): Promise<Msg> {
    const id = message.id ?? `r${++this.#nextId}`;
    this.sendLine(JSON.stringify({ ...message, id }));
    const reply = await this.next(
      (m) => m.id === id && ['ACK', 'ERROR', 'WELCOME'].includes(m.type),
      timeoutMs,
      `reply to ${message.type}`,
    );
    if (reply.type !== 'ERROR' && Object.hasOwn(REQUEST_SCHEMAS, message.type)) {
      const { type: _type, id: _id, ...payload } = reply;
      const checked = parseReply(message.type as RequestType, payload);
      if (!checked.ok) this.invalid.push(`${checked.error.message}: ${JSON.stringify(reply).slice(0, 200)}`);
    }
    return reply;
  }

  /** The first received message matching pred (removed from the queue). */
  async next(pred: (m: Msg) => boolean, timeoutMs = 10_000, what = 'message'): Promise<Msg> {
    return waitFor(
      () => {
        const index = this.received.findIndex(pred);
        return index >= 0 ? this.received.splice(index, 1)[0] : undefined;
      },
      timeoutMs,
      what,
    );
  }

  close(): void {
    this.socket.destroy();
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      const parsed = parseDaemonMessage(line);
      if (!parsed.ok) this.invalid.push(`${parsed.error.message}: ${line.slice(0, 200)}`);
      const message = JSON.parse(line);
      this.received.push(message);
      this.all.push(message);
    }
  }
}

/** `taskwarden daemon --foreground` in a child process (so a test can SIGKILL it). */
export async function spawnDaemon(
  home: string,
  args: string[] = [],
): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, '--home', home, 'daemon', '--foreground', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(() => output.includes(' serves ') || child.exitCode !== null, 20_000, 'the daemon to listen');
  if (child.exitCode !== null) throw new Error(`daemon exited: ${output}`);
  return { child, output: () => output, exited };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI on a state directory to its end. */
export function runCli(home: string, ...args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, '--home', home, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/**
 * A daemon in this process on a fresh temp home, quiet, two tasks at once; closed and its home
 * removed by `cleanups` (the test file's afterEach list).
 */
export async function inProcessDaemon(
  cleanups: Array<() => unknown>,
  options: Parameters<typeof startDaemon>[0] = {},
  supervisorOptions: NonNullable<Parameters<typeof startDaemon>[0]>['supervisorOptions'] = { concurrency: 2 },
): Promise<DaemonHandle> {
  const h = tempHome();
  cleanups.push(h.cleanup);
  const d = await startDaemon({ home: h.home, log: () => {}, supervisorOptions, ...options });
  cleanups.push(() => d.close());
  return d;
}
