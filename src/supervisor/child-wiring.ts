/**
 * Listens to one attempt's process: its stdout and stderr as lines, its IPC messages, and its
 * exit, reported only once its output is read (the last line may be the final progress), or a
 * short while after when a descendant still holds the streams open. Every listener comes off
 * again (a reused runner outlives the attempt).
 */
import type { ChildProcess } from 'node:child_process';
import { LineSplitter } from '../process/lines.js';
import type { FromRunner } from '../common/runner-ipc.js';

/** How long the exit of a task process waits for more of its stdout/stderr (a descendant may hold them open). */
const STDIO_DRAIN_MS = 100;
/** ... and at most this long in all. */
const STDIO_DRAIN_MAX_MS = 1000;

export interface ChildListeners {
  line(stream: 'stdout' | 'stderr', line: string): void;
  message(message: FromRunner): void;
  /** The process exited and its output is read (or the drain limit ran out). */
  exit(code: number | null, signal: NodeJS.Signals | null, at: number): void;
}

/** Wires the listeners to the child; returns what takes them off again. */
export function wireChild(child: ChildProcess, on: ChildListeners): () => void {
  const openStreams = new Set<string>();
  let exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  // When the limit runs out, one more pass of the poll phase first: on a loaded machine a late
  // turn of the event loop runs expired timers before it reads the data already waiting.
  // Bounded: a descendant that keeps writing to the inherited streams must not hold up the exit.
  let exitSeenAt = 0;
  const armDrainTimer = () => {
    if (drainTimer && performance.now() - exitSeenAt > STDIO_DRAIN_MAX_MS) return;
    clearTimeout(drainTimer);
    drainTimer = setTimeout(() => setImmediate(reportExit), STDIO_DRAIN_MS);
  };
  const reportExit = () => {
    if (!exit) return;
    const { code, signal, at } = exit;
    exit = undefined;
    clearTimeout(drainTimer);
    on.exit(code, signal, at);
  };
  // Node's own listener type (EventEmitter.on takes (...args: any[]) => void).
  type Listener = Parameters<NodeJS.EventEmitter['on']>[1];
  const listeners: Array<[NodeJS.EventEmitter, string, Listener]> = [];
  const listen = (emitter: NodeJS.EventEmitter, event: string, listener: Listener) => {
    emitter.on(event, listener);
    listeners.push([emitter, event, listener]);
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    const readable = child[stream];
    if (!readable || readable.closed) continue; // a runner that died while idle: nothing left to read
    openStreams.add(stream);
    const splitter = new LineSplitter((line) => on.line(stream, line));
    listen(readable, 'data', (chunk: Buffer) => {
      splitter.push(chunk);
      if (exit) armDrainTimer(); // still reading what the task wrote: the limit counts from the last data
    });
    listen(readable, 'end', () => splitter.end());
    listen(readable, 'close', () => {
      openStreams.delete(stream);
      if (openStreams.size === 0) reportExit();
    });
    (readable as unknown as { ref?: () => void }).ref?.();
  }
  listen(child, 'message', (message: FromRunner) => on.message(message));
  listen(child, 'error', () => {
    // Spawn errors are handled where it is spawned; IPC send errors surface as a missing report.
  });
  listen(child, 'exit', (code: number | null, signal: NodeJS.Signals | null) => {
    exit = { code, signal, at: Date.now() };
    exitSeenAt = performance.now();
    if (openStreams.size === 0) return reportExit();
    armDrainTimer();
  });
  return () => {
    clearTimeout(drainTimer);
    for (const [emitter, event, listener] of listeners) emitter.off(event, listener);
  };
}
