/**
 * The receiving end of workers/beacon.mjs: a unix socket where every task, whatever runs it,
 * says when its code started (its own clock reading) and when its cleanup finished.
 * Every pid it hears of is remembered, so that nothing a benchmark started outlives it.
 */
import net from 'node:net';
import os from 'node:os';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { killExact, procId, type ProcId } from './proc.js';

export interface BeaconMessage {
  tag: string;
  t: 'running' | 'stopped';
  pid: number;
  threadId: number;
  /** Epoch milliseconds read inside the task (performance.timeOrigin + performance.now()). */
  at: number;
  /** CPU ms the task's process had used when the task code started. */
  cpuMs?: number;
  grandchild?: number;
}

interface Entry {
  running?: BeaconMessage;
  stopped?: BeaconMessage;
  waiters: Array<() => void>;
}

export const epochNow = (): number => performance.timeOrigin + performance.now();

export class Beacons {
  readonly path: string;
  readonly #server: net.Server;
  readonly #entries = new Map<string, Entry>();
  /** Every task process and grandchild ever reported, for the final sweep. */
  readonly #seen = new Map<number, ProcId>();

  private constructor(path: string, server: net.Server) {
    this.path = path;
    this.#server = server;
  }

  static async open(): Promise<Beacons> {
    const path = join(os.tmpdir(), `taskwarden-peers-${process.pid}.sock`);
    rmSync(path, { force: true });
    let self: Beacons | undefined;
    const server = net.createServer((socket) => {
      let buffered = '';
      socket.setEncoding('utf8');
      socket.on('error', () => {});
      socket.on('data', (chunk: string) => {
        buffered += chunk;
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          try {
            if (self) self.#receive(JSON.parse(line) as BeaconMessage);
          } catch {
            // not ours
          }
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    server.unref();
    self = new Beacons(path, server);
    return self;
  }

  #entry(tag: string): Entry {
    let entry = this.#entries.get(tag);
    if (!entry) {
      entry = { waiters: [] };
      this.#entries.set(tag, entry);
    }
    return entry;
  }

  #receive(message: BeaconMessage): void {
    const entry = this.#entry(message.tag);
    if (message.t === 'running') {
      entry.running = message;
      this.#remember(message.pid);
      if (message.grandchild) this.#remember(message.grandchild);
    } else if (message.t === 'stopped') {
      entry.stopped = message;
    }
    for (const wake of entry.waiters.splice(0)) wake();
  }

  #remember(pid: number): void {
    if (pid === process.pid || this.#seen.has(pid)) return;
    const id = procId(pid);
    if (id) this.#seen.set(pid, id);
  }

  /** Resolves with the 'running' message of the task, or undefined after limitMs. */
  running(tag: string, limitMs: number): Promise<BeaconMessage | undefined> {
    return this.#waitFor(tag, 'running', limitMs);
  }

  /** Resolves with the 'stopped' message (cleanup done), or undefined after limitMs. */
  stopped(tag: string, limitMs: number): Promise<BeaconMessage | undefined> {
    return this.#waitFor(tag, 'stopped', limitMs);
  }

  #waitFor(tag: string, kind: 'running' | 'stopped', limitMs: number): Promise<BeaconMessage | undefined> {
    const entry = this.#entry(tag);
    if (entry[kind]) return Promise.resolve(entry[kind]);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), limitMs);
      const wake = () => {
        if (!entry[kind]) {
          entry.waiters.push(wake);
          return;
        }
        clearTimeout(timer);
        resolve(entry[kind]);
      };
      entry.waiters.push(wake);
    });
  }

  forget(tag: string): void {
    this.#entries.delete(tag);
  }

  /** The process ids (with start times) of a task and its grandchild, as reported. */
  processesOf(message: BeaconMessage): ProcId[] {
    const ids: ProcId[] = [];
    for (const pid of [message.pid, message.grandchild]) {
      if (pid === undefined || pid === process.pid) continue;
      const id = this.#seen.get(pid) ?? procId(pid);
      if (id) ids.push(id);
    }
    return ids;
  }

  /** SIGKILLs every reported process that still runs (exact pid + start time). Returns how many. */
  sweep(): number {
    let killed = 0;
    for (const [pid, id] of this.#seen) {
      if (killExact(id)) killed += 1;
      this.#seen.delete(pid);
    }
    return killed;
  }

  close(): void {
    this.sweep();
    this.#server.close();
    rmSync(this.path, { force: true });
  }
}
