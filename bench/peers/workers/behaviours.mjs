// Task behaviours shared by every contender's worker. How a cooperative task hears about
// cancellation differs per contender (its documented mechanism); the caller passes it in.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { nowEpochMs, openBeacon } from './beacon.mjs';

// Absolute: tinypool's child_process workers get an environment without PATH unless given one.
const SLEEP = ['/usr/bin/sleep', '/bin/sleep'].find((p) => existsSync(p)) ?? 'sleep';

/**
 * input: { mode, beacon (socket path), tag }.
 * onCancel(cb): registers the contender's cancellation hook (cb returns a promise); may be async.
 * Returns what the task returns; 'spin' and 'grandchild' never return.
 */
export async function behave(input, onCancel) {
  const startedAt = nowEpochMs();
  // CPU this process spent before the task code ran: what starting it cost, whatever the machine's load.
  const cpu = process.cpuUsage();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const { mode, beacon: address, tag } = input;
  if (mode === 'noop') return tag;
  const beacon = openBeacon(address, tag);
  switch (mode) {
    case 'echo':
      await beacon.send({ t: 'running', at: startedAt, cpuMs });
      beacon.close();
      return tag;
    case 'spin':
      await beacon.send({ t: 'running', at: startedAt, cpuMs });
      for (;;) {
        /* stuck in a synchronous loop */
      }
    case 'grandchild': {
      // A stuck task that started a helper program (think: a Python or CUDA subprocess).
      const child = spawn(SLEEP, ['1000'], { stdio: 'ignore' });
      await beacon.send({ t: 'running', at: startedAt, cpuMs, grandchild: child.pid });
      for (;;) {
        /* stuck */
      }
    }
    case 'ignore':
      // Ignores the contender's cancel hook and SIGTERM; its event loop stays free.
      process.on('SIGTERM', () => {});
      await beacon.send({ t: 'running', at: startedAt, cpuMs });
      await new Promise(() => setInterval(() => {}, 1000));
      return tag;
    case 'coop': {
      // Waits until cancelled, then cleans up (a timer) and reports when cleanup is done.
      const keepAlive = setInterval(() => {}, 1000);
      let stop;
      const stopped = new Promise((resolve) => {
        stop = resolve;
      });
      // The hook is in place before the task says it runs (execa's getCancelSignal() is async).
      await onCancel(async () => {
        clearInterval(keepAlive);
        await beacon.send({ t: 'stopped', at: nowEpochMs() });
        beacon.close();
        stop();
      });
      await beacon.send({ t: 'running', at: startedAt, cpuMs });
      await stopped;
      return 'cancelled';
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}
