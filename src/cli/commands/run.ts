/**
 * `taskwarden run <module> [--input JSON] [--name N] [--wait]` and
 * `taskwarden run [--name N] [--wait] -- <command> [args...]`.
 *
 * With --wait it follows the task to its end: a progress bar on stderr (a
 * terminal; plain lines otherwise), the task's output on stdout/stderr, and
 * the exit code of its outcome. Ctrl+C cancels the task (a second one kills it).
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { programProblem } from '../../daemon/program.js';
import { findProgram } from '../../process/path-lookup.js';
import { InvalidArgumentError, type Command } from 'commander';
import type { DaemonClient } from '../../daemon/client.js';
import { ValueDecodeError, decodeValue, stringifyValue, type DaemonEvent } from '../../protocol/index.js';
import { type TaskSpec } from '../../supervisor/types.js';
import { isFinishedState, type RecordedOutcome, type RecordedTask } from '../../journal/recorded-state.js';
import { UsageError, connect, memoryOption, priorityOption, print, printTaskJson } from '../context.js';
import type { Priority } from '../../process/priority.js';
import { progressBar } from '../format.js';
import { clusterRun, clusterTarget } from './cluster.js';

import { EXIT, OUTCOME_EXIT } from '../../common/exit-codes.js';

interface RunOptions {
  input?: string;
  name?: string;
  priority?: Priority;
  memory?: number;
  /** true, or the most tasks per runner (commander gives true for a bare --reuse). */
  reuse?: boolean | number;
  isolate?: boolean;
  wait?: boolean;
  json?: boolean;
}

export function registerRunCommand(program: Command, argv: readonly string[]): void {
  program
    .command('run')
    .description('run a task module (a file whose default export is defineTask(...)), or a command after --')
    .argument('[target...]', 'module path, or (after --) a command and its arguments')
    .option('--input <json>', 'input for a module task, as JSON')
    .option('--name <name>', 'display name')
    .option(
      '--priority <level>',
      'CPU priority: idle (default: only CPU time nobody else wants), low (nice 10) or normal',
      priorityOption,
    )
    .option(
      '--memory <size>',
      "memory limit for all the task's processes together, e.g. 512M or 2G; over it the task fails OOM_KILLED (needs cgroups: see taskwarden doctor)",
      memoryOption,
    )
    .option(
      '--reuse [n]',
      'a module task: its runner process may serve later tasks of the same module, cwd and env (at most n tasks; see README, Reusable runners)',
      reuseOption,
    )
    .option(
      '--isolate',
      'a module task: a fresh process, never a reused one (for modules the daemon reuses by default, such as the texture task)',
    )
    .option(
      '-w, --wait',
      'wait for the end: progress bar, output, exit code 0 completed, 1 failed, 130 cancelled, 137 killed',
    )
    .option('--json', 'print the task (with --wait: the final task) as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  taskwarden run ./tasks/resize.mjs --input \'{"size":512}\' --wait\n  taskwarden run --name train --wait -- python train.py --epochs 3',
    )
    .action(async (target: string[], options: RunOptions, command: Command) => {
      const spec = buildSpec(target, options, argv);
      const cluster = clusterTarget(command);
      if (cluster) return void (process.exitCode = await clusterRun(cluster, spec, options));
      const client = await connect(command);
      try {
        process.exitCode = options.wait
          ? await runAndWait(client, spec, options)
          : await runDetached(client, spec, options);
      } finally {
        client.close();
      }
    });
}

/** Module mode unless the user wrote `--`: then everything after it is the command. */
export function buildSpec(target: string[], options: RunOptions, argv: readonly string[]): TaskSpec {
  const dash = argv.indexOf('--');
  const name = {
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.priority !== undefined ? { priority: options.priority } : {}),
    ...(options.memory !== undefined ? { memoryMax: options.memory } : {}),
  };
  if (dash >= 0) {
    const command = argv.slice(dash + 1);
    if (command.length === 0)
      throw new UsageError('run: nothing after "--": give a command, e.g. taskwarden run -- sleep 5');
    if (target.length > command.length) throw new UsageError('run: give either a module or "-- <command>", not both');
    if (options.input !== undefined)
      throw new UsageError('run: --input goes with a module; pass a command its data as arguments');
    if (options.reuse !== undefined || options.isolate)
      throw new UsageError(
        'run: --reuse and --isolate go with a module; a command is a program of its own, started for each task',
      );
    return { command: resolveCommand(command[0]!), args: command.slice(1), cwd: process.cwd(), ...name };
  }
  if (target.length === 0) throw new UsageError('run: give a task module path, or "-- <command> [args...]"');
  if (target.length > 1)
    throw new UsageError(`run: one module at a time; to run a command write: taskwarden run -- ${target.join(' ')}`);
  const module = resolve(target[0]!);
  if (!existsSync(module) || !statSync(module).isFile()) {
    throw new UsageError(`run: no task module ${module}; to run a command write: taskwarden run -- ${target[0]}`);
  }
  if (options.reuse !== undefined && options.isolate)
    throw new UsageError('run: --reuse and --isolate contradict each other: give one');
  const reuse = options.isolate ? { reuse: false } : options.reuse !== undefined ? { reuse: options.reuse } : {};
  return {
    module,
    cwd: process.cwd(),
    ...name,
    ...reuse,
    ...(options.input !== undefined ? { input: parseInput(options.input) } : {}),
  };
}

function reuseOption(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError(
      `--reuse takes the most tasks one runner may serve, an integer >= 1 (or nothing, for no limit), got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** JSON, in which tagged values ({"$tw":"Date","v":"..."}, see docs/daemon.md) stand for what they encode. */
function parseInput(text: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `run: --input is not valid JSON (${(error as Error).message}); quote it, e.g. --input '{"n":3}'`,
    );
  }
  try {
    return decodeValue(json, '--input');
  } catch (error) {
    if (error instanceof ValueDecodeError) throw new UsageError(`run: ${error.message}`);
    throw error;
  }
}

/**
 * The daemon runs commands with its own environment, which may have another
 * PATH: find the program here, as the user's shell would. A file that cannot
 * be run (not executable, not a file, no interpreter line, ...) is refused now,
 * with what is wrong, rather than failing as "command not found" once it starts.
 */
function resolveCommand(command: string): string {
  const found = command.includes('/') ? resolve(command) : findProgram(command, process.env.PATH);
  if (found === undefined) throw new UsageError(`run: command not found: ${command} (not in PATH)`);
  const problem = programProblem(found, command);
  if (problem) throw new UsageError(`run: ${problem}`);
  return found;
}

async function runDetached(client: DaemonClient, spec: TaskSpec, options: RunOptions): Promise<number> {
  const { task } = await client.request('TASK_REQUEST', { spec });
  if (options.json) printTaskJson({ task }, 'task');
  else print(task.id);
  return 0;
}

async function runAndWait(client: DaemonClient, spec: TaskSpec, options: RunOptions): Promise<number> {
  const view = new WaitView(options.json === true);
  // Subscribe first: no event of the new task can slip by. Events before we know its id are kept.
  const early: DaemonEvent[] = [];
  let taskId: string | undefined;
  let finish!: (task: RecordedTask) => void;
  const finished = new Promise<RecordedTask>((resolve) => (finish = resolve));
  const onEvent = (event: DaemonEvent) => {
    if (taskId === undefined) return void early.push(event);
    const done = view.onEvent(taskId, event);
    if (done) finish(done);
  };
  client.on('event', onEvent);
  const lost = new Promise<never>((_, reject) =>
    client.once('close', (error) =>
      reject(
        new Error(
          `lost the daemon while waiting for task ${taskId ?? '?'} (${error?.message ?? 'closed'}); see "taskwarden show ${taskId ?? ''}"`,
        ),
      ),
    ),
  );
  lost.catch(() => {}); // closing the client after the end is not an error
  await client.subscribe();
  const { task } = await client.request('TASK_REQUEST', { spec });
  taskId = task.id;
  view.started(task);
  for (const event of early.splice(0)) onEvent(event);
  const stopSignals = interruptHandler(client, task.id, view);
  try {
    const final = await Promise.race([finished, lost]);
    return view.finished(final);
  } finally {
    stopSignals();
  }
}

/** Ctrl+C: cancel the task; again: kill it. The daemon is in another session, so SIGINT reaches only us. */
function interruptHandler(client: DaemonClient, taskId: string, view: WaitView): () => void {
  let presses = 0;
  const onSigint = () => {
    presses += 1;
    const type = presses === 1 ? 'TASK_CANCEL' : 'TASK_KILL';
    view.note(presses === 1 ? `cancelling task ${taskId} (Ctrl+C again to kill it)` : `killing task ${taskId}`);
    client
      .request(type, { taskId })
      .catch((error: unknown) =>
        view.note(
          `could not ${type === 'TASK_CANCEL' ? 'cancel' : 'kill'} task ${taskId}: ${(error as Error).message}`,
        ),
      );
  };
  process.on('SIGINT', onSigint);
  return () => process.off('SIGINT', onSigint);
}

/** What `run --wait` shows while it waits: a bar on a terminal, plain lines elsewhere, and the task's output. */
export class WaitView {
  readonly #tty = process.stderr.isTTY;
  readonly #json: boolean;
  #barShown = false;
  #lastPlainAt = 0;

  constructor(json: boolean) {
    this.#json = json;
  }

  started(task: RecordedTask): void {
    this.note(`task ${task.id} (${task.name}) ${task.state}`);
  }

  /** Returns the final snapshot once the task is complete. */
  onEvent(taskId: string, event: DaemonEvent): RecordedTask | undefined {
    switch (event.type) {
      case 'TASK_PROGRESS':
        if (event.taskId === taskId) this.#progress(event.progress);
        return undefined;
      case 'TASK_LOG':
        if (event.log.taskId === taskId) this.#output(event.log.stream, event.log.line);
        return undefined;
      case 'TASK_STATUS':
        // Plain output tells each step; the end is reported once, by finished().
        if (
          event.task.id === taskId &&
          event.previous !== undefined &&
          !isFinishedState(event.task.state) &&
          !this.#tty
        )
          this.note(`task ${taskId} ${event.task.state}`);
        return undefined;
      case 'TASK_COMPLETE':
        return event.task.id === taskId ? event.task : undefined;
      default:
        return undefined;
    }
  }

  finished(task: RecordedTask): number {
    this.#clearBar();
    const outcome = task.outcome;
    const state = outcome?.state ?? (task.state as RecordedOutcome['state']);
    // The result as JSON, its Maps, Dates, BigInts, ... in the tagged encoding (docs/daemon.md, "Task values").
    if (this.#json) printTaskJson({ task }, 'task');
    else if (state === 'completed' && outcome?.result !== undefined) print(stringifyValue(outcome.result));
    // A module task's error by name (RangeError: ...), and where its stack is; a command's says its exit code.
    const error = outcome?.error;
    const moduleError = error && task.kind === 'module' && state === 'failed';
    const detail = error
      ? `: ${moduleError ? `${error.name}: ` : ''}${error.message}${moduleError && error.stack ? ` ("taskwarden show ${task.id}" has its stack)` : ''}`
      : outcome?.signal
        ? ` (${outcome.signal})`
        : '';
    process.stderr.write(`task ${task.id} ${state}${detail}\n`);
    return OUTCOME_EXIT[state] ?? EXIT.failure;
  }

  note(line: string): void {
    this.#clearBar();
    process.stderr.write(`${line}\n`);
  }

  #progress(progress: { fraction: number; message?: string }): void {
    if (this.#tty) {
      process.stderr.write(`\r\x1b[K${progressBar(progress, process.stderr.columns ?? 80)}`);
      this.#barShown = true;
      return;
    }
    // Plain lines: at most one a second, so a log file stays readable.
    const now = Date.now();
    if (now - this.#lastPlainAt < 1000 && progress.fraction < 1) return;
    this.#lastPlainAt = now;
    process.stderr.write(`${Math.floor(progress.fraction * 100)}%${progress.message ? ` ${progress.message}` : ''}\n`);
  }

  #output(stream: 'stdout' | 'stderr', line: string): void {
    this.#clearBar();
    if (stream === 'stdout' && !this.#json) process.stdout.write(`${line}\n`);
    else process.stderr.write(`${line}\n`);
  }

  #clearBar(): void {
    if (!this.#barShown) return;
    process.stderr.write('\r\x1b[K');
    this.#barShown = false;
  }
}
