/** What every CLI command shares: the global options, output streams, the connection, exit codes. */
import type { Command } from 'commander';
import { DaemonClient, DaemonError } from '../daemon/client.js';
import { encodeValue, mapPayloadValues } from '../protocol/index.js';
import { PRIORITIES, type Priority } from '../process/priority.js';
import { parseMemorySize } from '../supervisor/memory-size.js';
import { TASK_ID_RULE, isTaskId } from '../common/task-id.js';

export const CLIENT_NAME = 'taskwarden-cli';

export { EXIT } from '../common/exit-codes.js';
import { EXIT } from '../common/exit-codes.js';

/** A bad argument or unknown id: one line on stderr, exit code 2. */
/** The value of a --priority option (a commander argument parser). */
export function priorityOption(value: string): Priority {
  if (!PRIORITIES.includes(value as Priority))
    throw new UsageError(`--priority must be ${PRIORITIES.join(', ')}, got "${value}"`);
  return value as Priority;
}

/** The value of a --memory option: a size such as 512M or 2G, in bytes. */
export function memoryOption(value: string): number {
  try {
    return parseMemorySize(value);
  } catch (error) {
    throw new UsageError(`--memory: ${(error as Error).message}`);
  }
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface GlobalOptions {
  home?: string;
}

export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/**
 * The daemon of the state directory; with autostart, one is started when none runs, and that is
 * said on stderr: it keeps running after this command (so that its tasks do).
 */
export async function connect(command: Command, autostart = true): Promise<DaemonClient> {
  const client = await DaemonClient.connect({ home: globals(command).home, autostart, clientName: CLIENT_NAME });
  const started = client.autostarted;
  if (started)
    process.stderr.write(
      `taskwarden: started a daemon (pid ${started.pid}) for ${started.home}; it keeps running for its tasks ("taskwarden shutdown" stops it)\n`,
    );
  return client;
}

/** Runs fn with a connection that is closed afterwards, whatever happens. */
export async function withClient<T>(command: Command, fn: (client: DaemonClient) => Promise<T>): Promise<T> {
  const client = await connect(command);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Tasks, task lists and task records as JSON, their inputs and results in the tagged encoding of
 * the protocol (a Map stays a Map, a Date a Date: see docs/daemon.md, "Task values").
 */
export function printTaskJson(payload: Record<string, unknown>, key?: string): void {
  const encoded = mapPayloadValues(payload, (value) => encodeValue(value));
  printJson(key === undefined ? encoded : encoded[key]);
}

export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Maps an error to its one-line message and exit code. */
export function exitCodeFor(error: unknown): { code: number; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof UsageError) return { code: EXIT.usage, message };
  // An unknown id or a request the daemon found malformed is a bad argument of this command.
  if (error instanceof DaemonError && (error.code === 'UNKNOWN_TASK' || error.code === 'BAD_MESSAGE'))
    return { code: EXIT.usage, message };
  // A state directory (--home, TASKWARDEN_HOME) that is not safe to use is a bad argument too.
  if ((error as { code?: unknown }).code === 'UNSAFE_PATH') return { code: EXIT.usage, message };
  return { code: EXIT.failure, message };
}

/** Task ids as the protocol accepts them; checked here so a typo gets exit code 2 without a round trip. */
export function taskId(value: string): string {
  if (!isTaskId(value))
    throw new UsageError(`"${String(value)}" is not a task id (ids are like 12: ${TASK_ID_RULE}; see "taskwarden ls")`);
  return value;
}

export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}
