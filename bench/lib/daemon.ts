/** Shared by benchmarks that run a daemon of their own. */
import { rmSync } from 'node:fs';
import type { DaemonClient } from '../../src/daemon/client.js';

/** Stops every task, shuts the daemon down (it may be going away already), removes its directory. */
export async function shutDownBenchDaemon(client: DaemonClient, dir: string): Promise<void> {
  try {
    await client.request('STOP_ALL');
    await client.request('SHUTDOWN');
  } catch {
    // going away
  }
  client.close();
  rmSync(dir, { recursive: true, force: true });
}
