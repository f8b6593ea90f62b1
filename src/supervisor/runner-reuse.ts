/**
 * The end of a reusable run (spec.reuse): the task's output ends at its end markers, its result
 * says the runner stays idle, and only then, if nothing the supervisor can see speaks against it
 * (other processes left behind, memory, the count, OOM kills, a stop), the runner is parked for
 * the next task of its kind; else it is retired, and exits as a one-task runner does.
 */
import type { ToRunner } from '../common/runner-ipc.js';
import { formatBytes } from '../common/bytes.js';
import { UNSETTLED_WAIT_MS } from '../process/attempt-processes.js';
import type { IdleRunners } from './idle-runners.js';
import type { MachineEvent } from './state-machine.js';
import { notReusedLine, type TaskRecord } from './task-record.js';

/** How long a reusable runner's end markers may lag behind its result (a loaded machine). */
const RELEASE_WAIT_MS = 5000;

export interface ReuseHost {
  readonly idleRunners: IdleRunners;
  readonly runnerMaxRssBytes: number;
  isShutDown(): boolean;
  dispatch(record: TaskRecord, event: MachineEvent): void;
  /** A line of the task's output (of its current attempt). */
  output(record: TaskRecord, stream: 'stdout' | 'stderr', line: string): void;
  send(record: TaskRecord, message: ToRunner): void;
}

export class RunnerReuse {
  readonly #host: ReuseHost;

  constructor(host: ReuseHost) {
    this.#host = host;
  }

  /** A line of a runner's output: the task's, up to its end marker (a reusable run); nothing after it is. */
  line(record: TaskRecord, stream: 'stdout' | 'stderr', line: string, output: (line: string) => void): void {
    const release = record.release;
    if (!release) return output(line);
    if (release[stream]) return;
    if (!line.endsWith(release.endMarker)) return output(line);
    // The task's last write may have had no newline: what precedes the marker is its last line.
    const last = line.slice(0, -release.endMarker.length);
    if (last.length > 0) output(last);
    release[stream] = true;
    this.#maybeRelease(record);
  }

  /** A reusable run's runner stays for another task: it wrote its end markers before this result. */
  idle(record: TaskRecord, rssBytes: number): void {
    if (!record.release) return;
    record.release.rssBytes = rssBytes;
    // The end markers were flushed before the result was sent: they are read in a moment, unless
    // something is badly wrong. Bounded: then the runner is not reused, and the exit path reads the rest.
    record.timers.release = setTimeout(() => this.retire(record), RELEASE_WAIT_MS);
    this.#maybeRelease(record);
  }

  /** The runner keeps its process for the next task: this attempt lets go of it. */
  park(record: TaskRecord): void {
    const runner = record.runner;
    detachRunner(record);
    if (runner) this.#host.idleRunners.park(runner);
  }

  /** Not reused after all: the runner exits as a one-task runner does, and the exit ends the attempt. */
  retire(record: TaskRecord): void {
    clearTimeout(record.timers.release);
    record.timers.release = undefined;
    record.runner = undefined;
    this.#host.send(record, { t: 'exit' });
  }

  /** Once a reusable run has ended (see RunnerRelease): the runner is released for the next task, or retired. */
  #maybeRelease(record: TaskRecord): void {
    const release = record.release;
    if (!release || release.rssBytes === undefined || !release.stdout || !release.stderr) return;
    clearTimeout(record.timers.release);
    record.timers.release = undefined;
    this.#decide(record, release.rssBytes, Date.now(), 1);
  }

  /** Parks or retires the runner; looks again a moment later while a process of the task may be mid-execve. */
  #decide(record: TaskRecord, rssBytes: number, since: number, delay: number): void {
    const why = this.#whyNotReusable(record, rssBytes, Date.now() - since > UNSETTLED_WAIT_MS);
    if (why === LOOK_AGAIN) {
      const next = () => this.#decide(record, rssBytes, since, Math.min(delay * 2, 25));
      record.timers.release = setTimeout(next, delay);
      return;
    }
    if (why === undefined) return this.#host.dispatch(record, { type: 'released', at: Date.now() });
    if (why) this.#host.output(record, 'stderr', notReusedLine(record, why));
    this.retire(record);
  }

  /**
   * Why this runner may not serve another task ('' when there is nothing to tell the user), or
   * undefined when it may, or LOOK_AGAIN. Its own checks (leftover handles) were the runner's;
   * these are what only the supervisor can see: other processes in its cgroup or group, memory,
   * the count, OOM kills.
   */
  #whyNotReusable(record: TaskRecord, rssBytes: number, waitedEnough: boolean): string | typeof LOOK_AGAIN | undefined {
    const runner = record.runner;
    if (!runner || this.#host.isShutDown() || runner.served >= record.reuseLimit || record.machine.state !== 'running')
      return '';
    const maxRss = this.#host.runnerMaxRssBytes;
    if (rssBytes > maxRss) {
      return `the runner's memory (RSS ${formatBytes(rssBytes)}) is over runnerMaxRssBytes (${formatBytes(maxRss)})`;
    }
    const { others, unsettled } = otherProcesses(record);
    if (others > 0) return `the task left ${processes(others)} running`;
    if (unsettled > 0 && !waitedEnough) return LOOK_AGAIN;
    if (unsettled > 0) return `${processes(unsettled)} started during the task could not be told apart from its own`;
    if (runner.cgroup && runner.cgroup.oomKills() > 0) return "the kernel's OOM killer ended a process of it";
    return undefined;
  }
}

/** Not a reason: a process that may be the task's is mid-execve (see LineageMark.findAttempt). */
const LOOK_AGAIN = Symbol('look again');

const processes = (n: number) => `${n} process${n > 1 ? 'es' : ''}`;

/**
 * Processes of the attempt other than its runner: in its cgroup; with process groups, those born
 * since the run began (read from there on: a reused runner is old).
 */
function otherProcesses(record: TaskRecord): { others: number; unsettled: number } {
  const runner = record.runner!;
  if (runner.cgroup) return { others: runner.cgroup.pids().filter((pid) => pid !== runner.pid).length, unsettled: 0 };
  return record.processes?.othersBornAfter(record.runFloorPid ?? runner.pid) ?? { others: 0, unsettled: 0 };
}

/** The attempt lets go of its runner: listeners, process, cgroup and release go with it. */
function detachRunner(record: TaskRecord): void {
  clearTimeout(record.timers.release);
  record.timers.release = undefined;
  record.unwire?.();
  record.unwire = undefined;
  record.runner = undefined;
  record.release = undefined;
  record.child = undefined;
  record.pid = undefined;
  record.processes = undefined;
  record.cgroup = undefined;
}
