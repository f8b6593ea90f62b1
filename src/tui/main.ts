/**
 * `taskwarden` with no command: the full-screen terminal UI, in its own process, connected to the
 * background daemon (started when none runs), which runs every task in its own process group.
 *
 * This module only settles React's build before loading anything that imports React: React picks
 * its development build unless NODE_ENV is 'production', and that build costs several times more
 * per frame.
 */
import type { TuiOptions } from './run.js';

export type { TuiOptions } from './run.js';

/** Runs the UI until the user quits; resolves with an exit code (also set on process.exitCode when not 0). */
export async function runTui(options: TuiOptions = {}): Promise<number> {
  process.env.NODE_ENV ??= 'production';
  const { runTuiApp } = await import('./run.js');
  return runTuiApp(options);
}
