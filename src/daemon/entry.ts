/**
 * The background daemon's process: background.ts spawns this file, not the CLI's entry, so a
 * daemon starts without the CLI (commander, the terminal UI) and whatever front end starts it
 * (the CLI, the UI, a program using DaemonClient) starts the same thing. Its one argument is
 * JSON: { home, supervisorOptions? }.
 */
import type { SupervisorOptions } from '../supervisor/options.js';
import { runDaemonCommand } from './main.js';

interface EntryOptions {
  home: string;
  supervisorOptions?: SupervisorOptions;
}

function parseOptions(text: string | undefined): EntryOptions {
  const options = JSON.parse(text ?? 'null') as unknown;
  if (typeof options !== 'object' || options === null || typeof (options as EntryOptions).home !== 'string') {
    throw new TypeError(
      `expected one JSON argument {"home": "<state directory>", "supervisorOptions": {...}}, got ${String(text)}`,
    );
  }
  return options as EntryOptions;
}

try {
  const { home, supervisorOptions } = parseOptions(process.argv[2]);
  process.exitCode = await runDaemonCommand({
    home,
    foreground: true,
    ...(supervisorOptions ? { supervisorOptions } : {}),
  });
} catch (error) {
  process.stderr.write(`taskwarden daemon: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
