/** `taskwarden daemon [--foreground] [--concurrency N] [--grace-ms MS] [--stall-after-ms MS] [--priority LEVEL] [--web-port N]`. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { resolveHome } from '../../daemon/home.js';
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
  webPort?: number;
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
    .option('--web-port <n>', 'also serve the web page from the daemon, on 127.0.0.1:N (0: a free port); its address goes to the daemon log (see "taskwarden web" for a page that outlives the daemon)', nonNegative('--web-port', 0))
    .action(async (options: DaemonOptions, command: Command) => {
      const supervisorOptions: SupervisorOptions = {
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
        ...(options.stallAfterMs !== undefined ? { stallAfterMs: options.stallAfterMs } : {}),
        ...(options.priority !== undefined ? { priority: options.priority } : {}),
      };
      const { home, config } = globals(command) as { home?: string; config?: string };
      process.exitCode = await runDaemonCommand({
        home,
        foreground: options.foreground === true,
        supervisorOptions,
        args: supervisorArgs(options),
        ...(options.webPort !== undefined ? { alongside: (daemon) => serveWebPage(daemon.home, options.webPort!, config) } : {}),
      });
      if (options.webPort !== undefined && options.foreground !== true) {
        process.stderr.write(`the web page's address (with its token) is in the daemon log: ${join(resolveHome({ home }), 'daemon.log')}\n`);
      }
    });
}

/** The web page served from the daemon's process, as a client of its own socket; its address is logged on stderr. */
async function serveWebPage(home: string, port: number, config: string | undefined): Promise<() => Promise<void>> {
  const { loadTemplates } = await import('../../tui/config.js');
  const { startWebServer } = await import('../../web/server.js');
  const { templates } = await loadTemplates({ config });
  const web = await startWebServer({ home, port, autostart: false, templates });
  process.stderr.write(`taskwarden web page: ${web.url}\n`);
  return () => web.close();
}

function nonNegative(name: string, min: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer of at least ${min}, got "${value}"`);
    return n;
  };
}

/** The same options for a background daemon's command line. */
function supervisorArgs(options: DaemonOptions): string[] {
  const args: string[] = [];
  if (options.concurrency !== undefined) args.push('--concurrency', String(options.concurrency));
  if (options.graceMs !== undefined) args.push('--grace-ms', String(options.graceMs));
  if (options.stallAfterMs !== undefined) args.push('--stall-after-ms', String(options.stallAfterMs));
  if (options.priority !== undefined) args.push('--priority', options.priority);
  if (options.webPort !== undefined) args.push('--web-port', String(options.webPort));
  return args;
}
