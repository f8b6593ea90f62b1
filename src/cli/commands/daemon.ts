/** `taskwarden daemon [--foreground] [--concurrency N] [--grace-ms MS] [--stall-after-ms MS] [--priority LEVEL]`. */
import type { Command } from 'commander';
import { runDaemonCommand } from '../../daemon/main.js';
import type { SupervisorOptions } from '../../supervisor/options.js';
import { UsageError, globals, priorityOption } from '../context.js';
import type { Priority } from '../../process/priority.js';

interface DaemonOptions {
  foreground?: boolean;
  concurrency?: number;
  graceMs?: number;
  stallAfterMs?: number;
  priority?: Priority;
}

export function registerDaemonCommand(program: Command): void {
  program
    .command('daemon')
    .description('start the daemon for the state directory (other commands start one on demand); --foreground runs it in this process')
    .option('--foreground', 'run in this process, log to stderr, stop on SIGTERM/SIGINT')
    .option('--concurrency <n>', 'tasks running at once (default: the number of CPUs)', nonNegative('--concurrency', 1))
    .option('--grace-ms <ms>', 'how long a cancel may take before SIGKILL (default 3000)', nonNegative('--grace-ms', 0))
    .option('--stall-after-ms <ms>', 'a running task silent this long is reported stalled (default 10000)', nonNegative('--stall-after-ms', 1))
    .option('--priority <level>', "CPU priority of tasks: idle (default), low (nice 10) or normal; the daemon itself stays at normal priority", priorityOption)
    .action(async (options: DaemonOptions, command: Command) => {
      const supervisorOptions: SupervisorOptions = {
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
        ...(options.stallAfterMs !== undefined ? { stallAfterMs: options.stallAfterMs } : {}),
        ...(options.priority !== undefined ? { priority: options.priority } : {}),
      };
      process.exitCode = await runDaemonCommand({
        home: globals(command).home,
        foreground: options.foreground === true,
        supervisorOptions,
      });
    });
}

function nonNegative(name: string, min: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer of at least ${min}, got "${value}"`);
    return n;
  };
}
