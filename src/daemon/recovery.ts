/**
 * Recovery when a daemon starts on a state directory whose previous daemon
 * died (SIGKILL, OOM, power loss): the journal still lists its active tasks.
 *
 * - A task that had (or was getting) a process becomes 'interrupted', keeping
 *   its last progress. If its process is still alive AND is still the same
 *   process (pid plus /proc start time, so a reused pid is never touched), its
 *   whole group is SIGKILLed first. Normally the orphan guard has done that
 *   already; this covers a guard that was killed too.
 *   Then every process that still carries the attempt's lineage mark (the
 *   daemon's supervisor token is derived from the state directory) is
 *   SIGKILLed too: members of a group whose leader already exited, and
 *   descendants that left the group.
 * - A task still waiting in the queue runs as normal, under its old id.
 */
import type { Journal, UnfinishedTask } from '../journal/index.js';
import { signalGroup } from '../process/group.js';
import { attemptKey, type LineageMark } from '../process/lineage.js';
import { isSameLiveProcess } from '../process/proc.js';
import { killLeftoverCgroups } from '../process/cgroup/owner.js';
import type { CgroupLayout } from '../process/cgroup/support.js';
import type { TaskSpec } from '../supervisor/types.js';
import type { RecordedTask } from '../journal/recorded-state.js';

export interface RecoveryReport {
  /** Tasks marked 'interrupted', as the journal now has them. */
  interrupted: RecordedTask[];
  /** Ids of queued tasks handed to the new supervisor. */
  requeued: string[];
  /** Process groups found alive and SIGKILLed. */
  killedGroups: number[];
  /** Processes found by their lineage mark (outside those groups, or left by a leader that exited) and SIGKILLed. */
  killedMarked: number[];
  /** Task cgroups of the dead daemon that still had processes, killed with cgroup.kill (removed once empty). */
  killedCgroups: string[];
  /** Recorded pids that are alive but belong to another process now (left alone). */
  spared: number[];
}

export interface RecoveryDeps {
  journal: Journal;
  /** Starts a task under its journaled id (the supervisor's 'created' event records it in the journal). */
  start: (spec: TaskSpec, id: string) => void;
  log: (message: string) => void;
  /** The lineage mark the dead daemon's tasks carry (the same token: it comes from the state directory). */
  mark?: LineageMark;
  /** With cgroup containment: where the dead daemon's task cgroups are, and its token (the same as ours). */
  cgroups?: { layout: CgroupLayout; token: string };
}

export function recover({ journal, start, log, mark, cgroups }: RecoveryDeps): RecoveryReport {
  const report: RecoveryReport = {
    interrupted: [],
    requeued: [],
    killedGroups: [],
    killedMarked: [],
    killedCgroups: [],
    spared: [],
  };
  const unfinishedTasks = journal.unfinished();
  // Read before anything is re-queued: this daemon's own processes never carry a dead attempt's value.
  const marked =
    mark && unfinishedTasks.length > 0 ? mark.findAllAttempts() : new Map<string, Array<{ pid: number }>>();
  for (const unfinished of unfinishedTasks) {
    const { task } = unfinished;
    // attempt > 1 while queued: a restart was waiting; its earlier attempts ran, so it is not "never started".
    if (task.state === 'queued' && task.attempt <= 1 && requeue(unfinished, start, log)) {
      report.requeued.push(task.id);
      continue;
    }
    const groupKilled = killLeftoverGroup(unfinished, report);
    const killed = killMarked(marked.get(attemptKey(task.id, task.attempt)), report) || groupKilled;
    const snapshot = journal.markInterrupted(task.id, {
      message: `the daemon running task ${task.id} exited while the task was ${task.state}; run it again with "taskwarden restart ${task.id}" (same id, next attempt) if it is still wanted`,
      previousState: task.state,
      ...(unfinished.pid !== null ? { pid: unfinished.pid, groupKilled: killed } : {}),
    });
    if (snapshot) report.interrupted.push(snapshot);
  }
  // Then everything else in the dead daemon's task cgroups, at once, whatever became of its groups
  // (after the per-task kills above, which say in the journal which task had what killed).
  if (cgroups) report.killedCgroups = killLeftoverCgroups(cgroups.layout, cgroups.token);
  if (report.interrupted.length + report.requeued.length > 0) {
    log(
      `recovery: ${report.interrupted.length} task(s) interrupted (${report.interrupted.map((t) => t.id).join(', ') || '-'}), ` +
        `${report.requeued.length} queued task(s) re-queued, ${report.killedGroups.length} left-over process group(s) and ` +
        `${report.killedMarked.length} marked process(es) and ${report.killedCgroups.length} task cgroup(s) killed, ` +
        `${report.spared.length} reused pid(s) left alone`,
    );
  }
  return report;
}

function requeue(unfinished: UnfinishedTask, start: RecoveryDeps['start'], log: RecoveryDeps['log']): boolean {
  const { task } = unfinished;
  try {
    start(task.spec, task.id);
    return true;
  } catch (error) {
    log(
      `recovery: queued task ${task.id} could not be re-queued (${error instanceof Error ? error.message : String(error)}); marking it interrupted`,
    );
    return false;
  }
}

/** SIGKILLs the processes that carry a dead attempt's lineage mark; true when there were any. */
function killMarked(processes: ReadonlyArray<{ pid: number }> | undefined, report: RecoveryReport): boolean {
  for (const { pid } of processes ?? []) {
    try {
      process.kill(pid, 'SIGKILL');
      report.killedMarked.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return (processes?.length ?? 0) > 0;
}

/**
 * SIGKILLs the task's group only when its leader is the very process that was
 * recorded: same pid AND same start time. Without a recorded start time nothing
 * proves the pid was not reused, so nothing is killed.
 */
function killLeftoverGroup(unfinished: UnfinishedTask, report: RecoveryReport): boolean {
  const { pid, procStartTime } = unfinished;
  if (pid === null || pid <= 1) return false;
  if (procStartTime === null || !isSameLiveProcess(pid, procStartTime)) {
    if (isSameLiveProcess(pid)) report.spared.push(pid);
    return false;
  }
  signalGroup(pid, 'SIGKILL');
  report.killedGroups.push(pid);
  return true;
}
