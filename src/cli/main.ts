#!/usr/bin/env node
/**
 * The taskwarden command line. Every command talks to the daemon of the state
 * directory (starting one if none runs), so tasks outlive the command that
 * started them. `taskwarden` alone opens the terminal UI.
 *
 * Exit codes: 0 success; 1 failure; 2 bad argument or unknown task id;
 * `run --wait`: 0 completed, 1 failed, 130 cancelled, 137 killed.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerAgentCommand } from './commands/agent.js';
import { registerDaemonCommand } from './commands/daemon.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerLogsCommand } from './commands/logs.js';
import { registerRunCommand } from './commands/run.js';
import { registerTaskCommands } from './commands/tasks.js';
import { registerTextureCommand } from './commands/texture.js';
import { registerWebCommand } from './commands/web.js';
import { EXIT, UsageError, exitCodeFor, globals, type GlobalOptions } from './context.js';

export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command('taskwarden')
    .description('run tasks in their own process groups and stop them at once, every time')
    .version(packageVersion(), '-V, --version')
    .option(
      '--home <dir>',
      'state directory (default: $TASKWARDEN_HOME, $XDG_STATE_HOME/taskwarden, ~/.local/state/taskwarden)',
    )
    .option('--config <file>', 'terminal UI templates (default: ./taskwarden.config.json, else built-in templates)')
    .option(
      '--cluster <url>',
      'work with a cluster: its Redis, redis://HOST:PORT (default: $TASKWARDEN_CLUSTER); run, ls, show, logs, history, cancel, kill, restart, stop-all, web',
    )
    .option('--queue <name>', "the cluster's queue (default: taskwarden)")
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failure, 2 bad argument or unknown task id; run --wait: 0 completed, 1 failed, 130 cancelled, 137 killed.',
    )
    .action((_options: unknown, command: Command) => openTui(globals(command)));
  registerRunCommand(program, argv);
  registerTaskCommands(program);
  registerLogsCommand(program);
  registerDaemonCommand(program);
  registerAgentCommand(program);
  registerDoctorCommand(program);
  registerTextureCommand(program);
  registerWebCommand(program);
  return program;
}

/** Parses argv (without node and the script) and runs the command; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const program = await buildProgram(argv);
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    // Commander has printed its own message (or the help); map its exit to ours.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const { code, message } = exitCodeFor(error);
    // "taskwarden: taskwarden refuses …" says its name twice.
    process.stderr.write(message.startsWith('taskwarden ') ? `${message}\n` : `taskwarden: ${message}\n`);
    return code;
  }
}

/** The UI is loaded only when asked for: Ink and React would slow every other command. */
async function openTui(options: GlobalOptions & { config?: string; cluster?: string }): Promise<void> {
  // Not yet: the UI talks to the local daemon only.
  if (options.cluster ?? process.env.TASKWARDEN_CLUSTER) {
    throw new UsageError(
      'the terminal UI does not attach to a cluster yet: use "taskwarden ls --cluster URL" (and show, logs -f, cancel, kill, restart, stop-all), or unset TASKWARDEN_CLUSTER for the local UI',
    );
  }
  const { runTui } = await import('../tui/main.js');
  const code = await runTui(options);
  if (typeof code === 'number') process.exitCode = code;
}

function packageVersion(): string {
  for (const relative of ['../../../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (dist/src/cli or src/cli)
    }
  }
  return '0.0.0';
}

function isEntryPoint(): boolean {
  try {
    return process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const code = await main(process.argv.slice(2));
  // A foreground daemon or a follower may leave handles behind (timers, the orphan guard's pipe): exit now.
  process.exit(code);
}
