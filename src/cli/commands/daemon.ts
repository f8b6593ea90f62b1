/** `taskwarden daemon [--foreground] [--concurrency N] [--grace-ms MS] [--stall-after-ms MS] [--priority LEVEL] [--web-port N]`. */
import type { Command } from 'commander';
import { runDaemonCommand } from '../../daemon/main.js';
import { CONTAINMENTS, type SupervisorOptions } from '../../supervisor/options.js';
import { UsageError, globals, memoryOption, priorityOption } from '../context.js';
import type { Priority } from '../../process/priority.js';

interface DaemonOptions {
  foreground?: boolean;
  concurrency?: number;
  graceMs?: number;
  stallAfterMs?: number;
  priority?: Priority;
  memory?: number;
  containment?: 'auto' | 'cgroup' | 'process-group';
  webPort?: number;
}

export function registerDaemonCommand(program: Command): void {
  program
    .command('daemon')
    .description(
      'start the daemon for the state directory (other commands start one on demand); --foreground runs it in this process',
    )
    .option('--foreground', 'run in this process, log to stderr, stop on SIGTERM/SIGINT')
    .option('--concurrency <n>', 'tasks running at once (default: the number of CPUs)', nonNegative('--concurrency', 1))
    .option('--grace-ms <ms>', 'how long a cancel may take before SIGKILL (default 3000)', nonNegative('--grace-ms', 0))
    .option(
      '--stall-after-ms <ms>',
      'a running task silent this long is reported stalled (default 10000)',
      nonNegative('--stall-after-ms', 1),
    )
    .option(
      '--priority <level>',
      'CPU priority of tasks: idle (default), low (nice 10) or normal; the daemon itself stays at normal priority',
      priorityOption,
    )
    .option('--memory <size>', 'default memory limit of each task, e.g. 2G (needs cgroups)', memoryOption)
    .option(
      '--containment <how>',
      'auto (default: a cgroup per task where possible), cgroup (required) or process-group',
      containmentOption,
    )
    .option(
      '--web-port <n>',
      'with --foreground: also serve the web page from this process on 127.0.0.1:N (0: a free port) and print its address ("taskwarden web" serves one that outlives the daemon)',
      nonNegative('--web-port', 0),
    )
    .action(async (options: DaemonOptions, command: Command) => {
      const supervisorOptions: SupervisorOptions = {
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
        ...(options.stallAfterMs !== undefined ? { stallAfterMs: options.stallAfterMs } : {}),
        ...(options.priority !== undefined ? { priority: options.priority } : {}),
        ...(options.memory !== undefined ? { memoryMax: options.memory } : {}),
        ...(options.containment !== undefined ? { containment: options.containment } : {}),
      };
      const { home, config } = globals(command) as { home?: string; config?: string };
      if (options.webPort !== undefined && options.foreground !== true) {
        throw new UsageError(
          '--web-port needs --foreground (a background daemon has no terminal to print the page\'s address to); or run "taskwarden web"',
        );
      }
      process.exitCode = await runDaemonCommand({
        home,
        foreground: options.foreground === true,
        supervisorOptions,
        ...(options.webPort !== undefined
          ? { alongside: (daemon) => serveWebPage(daemon.home, options.webPort!, config) }
          : {}),
      });
    });
}

/** The web page served from the daemon's process, as a client of its own socket; its address goes to stderr. */
async function serveWebPage(home: string, port: number, config: string | undefined): Promise<() => Promise<void>> {
  const { loadTemplates } = await import('../../tui/config.js');
  const { startWebServer } = await import('../../web/server.js');
  const { templates } = await loadTemplates({ config });
  const web = await startWebServer({ home, port, autostart: false, templates });
  process.stderr.write(`taskwarden web page: ${web.url}\n`);
  return () => web.close();
}

function containmentOption(value: string): DaemonOptions['containment'] {
  if (!(CONTAINMENTS as readonly string[]).includes(value))
    throw new UsageError(`--containment must be ${CONTAINMENTS.join(', ')}, got "${value}"`);
  return value as DaemonOptions['containment'];
}

function nonNegative(name: string, min: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new UsageError(`${name} must be an integer of at least ${min}, got "${value}"`);
    return n;
  };
}
