/**
 * The orphan guard on its own: its registry survives compaction (a long-lived
 * supervisor records two lines per task), and close() kills what is still
 * registered, nothing else. Real process groups; the churned ids lie above
 * the kernel's pid_max, so they can never name a real group.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OrphanGuard } from '../../src/process/orphan-guard.js';
import { isAlive, ownProcess, waitFor } from '../helpers.js';

const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));

function sleeper(): number {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  child.unref();
  return child.pid!;
}

describe('orphan guard registry', () => {
  it('after many tasks (the registry compacted), close() kills the registered groups and only those', async () => {
    const guard = new OrphanGuard();
    const live = sleeper();
    const released = sleeper();
    const ours = [ownProcess(live), ownProcess(released)];
    try {
      guard.register(live);
      guard.register(released);
      guard.unregister(released);
      const registry = guard.registryPath!;
      expect(registry).toBeDefined();
      for (let i = 0; i < 40_000; i++) {
        const id = pidMax + 1 + i; // never a real group
        guard.register(id);
        guard.unregister(id);
      }
      // Compacted: 80 000 lines of "+id" / "-id" would be ~560 KiB; the registry is rewritten past 256 KiB.
      expect(statSync(registry).size).toBeLessThan(256 * 1024);
      expect(readFileSync(registry, 'latin1')).toContain(`+${live}\n`);
      const guardPid = guard.pid!;
      guard.close();
      await waitFor(() => !isAlive(live), 5000, 'the registered group to be killed');
      await waitFor(() => !isAlive(guardPid), 5000, 'the guard to exit');
      expect(isAlive(released)).toBe(true);
      expect(existsSync(dirname(registry))).toBe(false);
    } finally {
      for (const own of ours) own.kill();
    }
  });
});
