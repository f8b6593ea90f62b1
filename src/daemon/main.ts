/** `taskwarden daemon`: run the daemon in this process (--foreground) or start it in the background. */
import type { SupervisorOptions } from '../supervisor/options.js';
import { startBackgroundDaemon } from './background.js';
import { DaemonClient } from './client.js';
import { resolveHome } from './home.js';
import { startDaemon, type DaemonHandle } from './server.js';

export interface DaemonCommandOptions {
  home?: string;
  foreground?: boolean;
  supervisorOptions?: SupervisorOptions;
  out?: (line: string) => void;
  /**
   * Runs beside a foreground daemon once it listens (the CLI serves the web page this way, as a
   * client of the daemon's own socket); what it returns is awaited when the daemon has shut down.
   */
  alongside?: (daemon: DaemonHandle) => Promise<() => Promise<void>>;
}

/** Returns the process exit code: 0 once a foreground daemon has shut down cleanly. */
export async function runDaemonCommand(options: DaemonCommandOptions): Promise<number> {
  const out = options.out ?? ((line: string) => process.stderr.write(`${line}\n`));
  return options.foreground ? runForeground(options, out) : runBackground(options, out);
}

async function runForeground(options: DaemonCommandOptions, out: (line: string) => void): Promise<number> {
  try {
    const daemon = await startDaemon({
      home: options.home,
      supervisorOptions: options.supervisorOptions,
      handleSignals: true,
    });
    const stopAlongside = await options.alongside?.(daemon).catch(async (error: unknown) => {
      await daemon.close();
      throw error;
    });
    await daemon.closed;
    await stopAlongside?.();
    return 0;
  } catch (error) {
    out(`taskwarden daemon: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

async function runBackground(options: DaemonCommandOptions, out: (line: string) => void): Promise<number> {
  const home = resolveHome({ home: options.home });
  const existing = await DaemonClient.connect({ home, autostart: false, clientName: 'taskwarden-cli' }).catch(
    () => undefined,
  );
  if (existing) {
    out(`a taskwarden daemon (pid ${existing.welcome.daemonPid}) already serves ${home}`);
    existing.close();
    return 0;
  }
  const probe = () =>
    DaemonClient.connect({ home, autostart: false, clientName: 'taskwarden-probe' }).then(
      (c) => (c.close(), true),
      () => false,
    );
  await startBackgroundDaemon({
    home,
    probe,
    ...(options.supervisorOptions ? { supervisorOptions: options.supervisorOptions } : {}),
  });
  const client = await DaemonClient.connect({ home, autostart: false, clientName: 'taskwarden-cli' });
  out(`taskwarden daemon (pid ${client.welcome.daemonPid}) serves ${home}`);
  client.close();
  return 0;
}
