/**
 * The stall watchdog's rules, pure: when a running task that said nothing (no progress, no
 * heartbeat) for stallAfterMs counts as stalled, whether it is spinning or blocked, and what the
 * onStall policy makes of it as an event for the state machine. The supervisor feeds it the
 * usage samples and executes what it returns.
 */
import { taskError } from '../common/task-errors.js';
import type { MachineEvent } from './state-machine.js';
import type { ResourceUsage, StallInfo, StallPolicy } from './types.js';

/** The task's stall as this sample shows it, or undefined when it is not stalled. */
export function stallOf(
  taskId: string,
  silentForMs: number,
  stallAfterMs: number,
  usage: ResourceUsage,
): StallInfo | undefined {
  if (!Number.isFinite(stallAfterMs) || silentForMs < stallAfterMs) return undefined;
  // A waiting process uses ~0% CPU and sleeps; a computing one uses up to a core and is runnable, even
  // when contended cores (tasks run niced) give it little CPU. No window yet: say so rather than guess.
  const computing = usage.cpuPercent >= 20 || usage.runnable === true;
  const diagnosis = usage.windowMs === 0 && !usage.runnable ? 'unknown' : computing ? 'spinning' : 'blocked';
  return { taskId, silentForMs, diagnosis, cpuPercent: usage.cpuPercent };
}

export interface StallPolicyOptions {
  onStall: StallPolicy;
  maxRestarts: number;
  restartWindowMs: number;
  /** The delay of the next restart, or undefined when the restart limit is reached (RestartIntensity.next). */
  nextRestartDelay: (at: number) => number | undefined;
}

/** What a first stall report leads to: nothing ('warn'), a cancel, a kill, or a restart (a kill past the restart limit). */
export function stallPolicyEvent(taskId: string, options: StallPolicyOptions, at: number): MachineEvent | undefined {
  switch (options.onStall) {
    case 'warn':
      return undefined;
    case 'cancel':
      return { type: 'cancel', reason: 'stall', at };
    case 'kill':
      return { type: 'kill', reason: 'stall', at };
    case 'restart': {
      const delayMs = options.nextRestartDelay(at);
      if (delayMs !== undefined) return { type: 'restart', reason: 'stall', delayMs, at };
      const error = taskError(
        'RESTART_LIMIT',
        `task ${taskId} stalled again after ${options.maxRestarts} restarts within ${options.restartWindowMs} ms; killed instead of restarted`,
      );
      return { type: 'kill', reason: 'stall', error, at };
    }
  }
}
