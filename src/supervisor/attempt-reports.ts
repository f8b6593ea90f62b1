/**
 * What an attempt's process tells the supervisor, and what follows from it: the runner's
 * messages (started, progress, heartbeat, result, error, cancelled), output lines (a command's
 * progress lines among them), activity for the watchdog, progress passed on at most once per
 * interval, usage samples, the kernel's OOM kills, and stalls with the onStall policy.
 */
import type { FromRunner } from '../common/runner-ipc.js';
import { formatBytes } from '../common/bytes.js';
import { taskError } from '../common/task-errors.js';
import { parseCommandProgress } from './command-progress.js';
import type { ResolvedOptions } from './options.js';
import type { RunnerReuse } from './runner-reuse.js';
import type { MachineEvent } from './state-machine.js';
import { notReusedLine, type TaskRecord } from './task-record.js';
import { isTerminalState, type LogLine, type Progress, type ResourceUsage, type SupervisorEvent } from './types.js';
import { stallOf, stallPolicyEvent } from './watchdog.js';

export interface ReportsHost {
  readonly options: ResolvedOptions;
  readonly reuse: RunnerReuse;
  dispatch(record: TaskRecord, event: MachineEvent): void;
  emit(event: SupervisorEvent): void;
}

export class AttemptReports {
  readonly #host: ReportsHost;

  constructor(host: ReportsHost) {
    this.#host = host;
  }

  message(record: TaskRecord, message: FromRunner): void {
    const at = Date.now();
    switch (message.t) {
      case 'started':
        record.lastActivityAt = at;
        return this.#host.dispatch(record, { type: 'started', at });
      case 'progress': {
        const { fraction } = message;
        return this.progress(
          record,
          message.message !== undefined ? { fraction, message: message.message } : { fraction },
        );
      }
      case 'heartbeat':
        return this.activity(record);
      case 'result':
        this.#host.dispatch(record, { type: 'report', report: { kind: 'result', value: message.value }, at });
        if (message.idle) this.#host.reuse.idle(record, message.idle.rssBytes);
        return;
      case 'error':
        return this.#host.dispatch(record, { type: 'report', report: { kind: 'error', error: message.error }, at });
      case 'cancelled':
        return this.#host.dispatch(record, { type: 'report', report: { kind: 'cancelled', error: message.error }, at });
      case 'not-reusable':
        return this.output(record, record.machine.attempt, 'stderr', notReusedLine(record, message.why));
      default:
        return;
    }
  }

  output(record: TaskRecord, attempt: number, stream: 'stdout' | 'stderr', line: string): void {
    if (record.kind === 'command' && stream === 'stdout' && attempt === record.machine.attempt) {
      const parsed = parseCommandProgress(line);
      if (parsed === 'heartbeat') return this.activity(record);
      if (parsed) return this.progress(record, parsed);
    }
    const log: LogLine = { taskId: record.id, attempt, stream, line, at: Date.now() };
    record.handle.emit('log', log);
    this.#host.emit({ type: 'log', log });
  }

  activity(record: TaskRecord): void {
    record.lastActivityAt = Date.now();
    record.stall = undefined;
  }

  progress(record: TaskRecord, progress: Progress): void {
    if (isTerminalState(record.machine.state)) return;
    this.activity(record);
    record.progress = progress;
    record.progressOut.push(progress);
  }

  /** Passes the progress on (record.progressOut: the latest value, at most once per progressIntervalMs). */
  emitProgress(record: TaskRecord, progress: Progress): void {
    record.handle.emit('progress', progress);
    this.#host.emit({ type: 'progress', taskId: record.id, attempt: record.machine.attempt, progress });
  }

  /** A usage sample of the task (it holds a slot). */
  usage(record: TaskRecord, usage: ResourceUsage, escaped: ReadonlyArray<{ pid: number; startTime: number }>): void {
    record.usage = usage;
    record.processes?.addEscapees(escaped);
    this.checkOom(record);
    record.handle.emit('usage', usage);
    this.#host.emit({ type: 'usage', taskId: record.id, usage });
    this.#checkStall(record, usage);
  }

  /** The kernel's OOM killer ended a process of the task (seen in its cgroup's memory counters). */
  checkOom(record: TaskRecord): void {
    const cgroup = record.cgroup;
    if (!cgroup || record.memoryMax === undefined || record.machine.oomError || cgroup.oomKills() === 0) return;
    const peak = cgroup.memory()?.peakBytes;
    const error = taskError(
      'OOM_KILLED',
      `task ${record.id} went over its memory limit of ${formatBytes(record.memoryMax)}` +
        `${peak !== undefined ? ` (peak ${formatBytes(peak)})` : ''} and the kernel's OOM killer ended it, every process of it; ` +
        'raise memoryMax (--memory) or make the task use less',
    );
    this.#host.dispatch(record, { type: 'oom-killed', error, at: Date.now() });
  }

  /** The watchdog (watchdog.ts): a running task silent for stallAfterMs is reported once, then its policy applies. */
  #checkStall(record: TaskRecord, usage: ResourceUsage): void {
    if (record.machine.state !== 'running') return;
    const { stallAfterMs, onStall, maxRestarts, restartWindowMs } = this.#host.options;
    const stall = stallOf(record.id, Date.now() - record.lastActivityAt, stallAfterMs, usage);
    if (!stall) return;
    const firstReport = record.stall === undefined;
    record.stall = stall;
    if (!firstReport) return;
    record.handle.emit('stall', stall);
    this.#host.emit({ type: 'stall', taskId: record.id, stall });
    const nextRestartDelay = (at: number) => record.restarts.next(at);
    const event = stallPolicyEvent(record.id, { onStall, maxRestarts, restartWindowMs, nextRestartDelay }, Date.now());
    if (event) this.#host.dispatch(record, event);
  }
}
