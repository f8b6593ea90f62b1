/**
 * The CLI's commands against a cluster (`--cluster URL` or $TASKWARDEN_CLUSTER, `--queue NAME`):
 * run, ls, show, logs, history, cancel, kill, restart, pause, resume and stop-all talk to the cluster's Redis
 * through a ClusterClient instead of the local daemon. Each local command hands over to the
 * function here when a cluster is named, so the local commands stay as they are.
 */
import type { Command } from 'commander';
import { ClusterClient } from '../../cluster/client.js';
import { ClusterError } from '../../cluster/cluster-error.js';
import { CLUSTER_ENV, ClusterUrlError } from '../../cluster/connection.js';
import type { ClusterTaskSnapshot } from '../../cluster/records.js';
import type { DaemonEvent } from '../../protocol/index.js';
import { type TaskSpec } from '../../supervisor/types.js';
import { isFinishedState } from '../../journal/recorded-state.js';
import { UsageError, print, printJson, printTaskJson } from '../context.js';
import { elapsed, percent, table, time } from '../format.js';
import { formatDuration as duration } from '../../common/duration.js';
import { WaitView } from './run.js';
import { describeTask, outcomeNote, stopNote } from './tasks.js';

export interface ClusterTarget {
  url: string;
  queue?: string;
}

/** The cluster this command is for, if any: --cluster, else $TASKWARDEN_CLUSTER. */
export function clusterTarget(command: Command): ClusterTarget | undefined {
  const options = command.optsWithGlobals<{ cluster?: string; queue?: string }>();
  const url = options.cluster ?? process.env[CLUSTER_ENV];
  if (!url) return undefined;
  return { url, ...(options.queue !== undefined ? { queue: options.queue } : {}) };
}

async function withCluster<T>(target: ClusterTarget, fn: (client: ClusterClient) => Promise<T>): Promise<T> {
  let client: ClusterClient;
  try {
    client = await ClusterClient.connect({
      redis: target.url,
      ...(target.queue !== undefined ? { queue: target.queue } : {}),
    });
  } catch (error) {
    if (error instanceof ClusterUrlError || error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  try {
    return await fn(client);
  } catch (error) {
    // An unknown id or a bad spec is a bad argument of this command (exit 2).
    if (error instanceof ClusterError && (error.code === 'UNKNOWN_TASK' || error.code === 'BAD_SPEC'))
      throw new UsageError(error.message);
    throw error;
  } finally {
    client.close();
  }
}

/** How often `run --wait` reads the task's record besides listening to events. */
const END_POLL_MS = 2000;

const HEADER = ['ID', 'STATE', 'PROGRESS', 'ATTEMPT', 'HOST', 'PID', 'TIME', 'NAME'];

function rows(tasks: ClusterTaskSnapshot[], now = Date.now()): string[][] {
  return tasks.map((t) => [
    t.id,
    t.state,
    percent(t.progress),
    String(t.attempt),
    t.host ?? '-',
    t.pid === undefined ? '-' : String(t.pid),
    elapsed(t, now),
    t.name,
  ]);
}

export function clusterRun(
  target: ClusterTarget,
  spec: TaskSpec,
  options: { wait?: boolean; json?: boolean },
): Promise<number> {
  return withCluster(target, async (client) => {
    if (!options.wait) {
      const task = await client.submit(spec);
      if (options.json) printTaskJson({ task }, 'task');
      else print(task.id);
      return 0;
    }
    const view = new WaitView(options.json === true);
    // Subscribe first: no event of the new task can slip by. Events before we know its id are kept.
    const early: DaemonEvent[] = [];
    let taskId: string | undefined;
    let finish!: (task: ClusterTaskSnapshot) => void;
    const finished = new Promise<ClusterTaskSnapshot>((resolve) => (finish = resolve));
    const onEvent = (event: DaemonEvent) => {
      if (taskId === undefined) return void early.push(event);
      const done = view.onEvent(taskId, event);
      if (done) finish(done);
    };
    client.on('event', onEvent);
    await client.subscribe();
    const task = await client.submit(spec);
    taskId = task.id;
    view.started(task);
    for (const event of early.splice(0)) onEvent(event);
    let presses = 0;
    const onSigint = () => {
      presses += 1;
      view.note(presses === 1 ? `cancelling task ${task.id} (Ctrl+C again to kill it)` : `killing task ${task.id}`);
      (presses === 1 ? client.cancel(task.id) : client.kill(task.id)).catch((error: unknown) =>
        view.note(`could not stop task ${task.id}: ${(error as Error).message}`),
      );
    };
    process.on('SIGINT', onSigint);
    // Events are at-most-once (a Redis restart drops them): the record has the end for sure.
    const poll = setInterval(() => {
      client.get(task.id).then(
        (now) => isFinishedState(now.state) && finish(now),
        () => {},
      );
    }, END_POLL_MS);
    try {
      return view.finished(await finished);
    } finally {
      clearInterval(poll);
      process.off('SIGINT', onSigint);
    }
  });
}

export function clusterLs(target: ClusterTarget, options: { all?: boolean; json?: boolean }): Promise<void> {
  return withCluster(target, async (client) => {
    const tasks = await client.list({ includeFinished: options.all === true });
    if (options.json) {
      printTaskJson({ tasks }, 'tasks');
      return;
    }
    const none = options.all
      ? 'no tasks in the cluster'
      : 'no active tasks in the cluster ("taskwarden ls --all" shows finished ones)';
    print(tasks.length === 0 ? none : table(HEADER, rows(tasks)));
  });
}

export function clusterShow(target: ClusterTarget, id: string, options: { json?: boolean }): Promise<void> {
  return withCluster(target, async (client) => {
    const task = await client.get(id);
    if (options.json) {
      printTaskJson({ task }, 'task');
      return;
    }
    const [first, ...rest] = describeTask(task, [], []).split('\n');
    print(
      [
        first,
        `  host ${task.host ?? '- (not taken by an agent yet)'}, BullMQ job ${task.jobId ?? '-'} of queue ${client.queueName}`,
        ...rest,
      ].join('\n'),
    );
  });
}

export function clusterHistory(target: ClusterTarget, options: { limit: number; json?: boolean }): Promise<void> {
  return withCluster(target, async (client) => {
    const tasks = await client.history(options.limit);
    if (options.json) {
      printTaskJson({ tasks }, 'tasks');
      return;
    }
    const lines = tasks.map((t) => [
      t.id,
      t.state,
      time(t.endedAt),
      duration(t.outcome?.durationMs),
      t.host ?? '-',
      outcomeNote(t),
      t.name,
    ]);
    print(
      tasks.length === 0
        ? 'no finished tasks in the cluster yet'
        : table(['ID', 'STATE', 'ENDED', 'TOOK', 'HOST', 'DETAIL', 'NAME'], lines),
    );
  });
}

export function clusterLogs(
  target: ClusterTarget,
  id: string,
  options: { follow?: boolean; json?: boolean },
): Promise<void> {
  return withCluster(target, async (client) => {
    if (!options.follow) {
      const lines = await client.logs(id);
      if (options.json) {
        printJson({ taskId: id, lines });
        return;
      }
      for (const line of lines) print(line);
      return;
    }
    // Follow: what is kept, then new lines as the agent publishes them, until the task ends.
    let ended!: () => void;
    const done = new Promise<void>((resolve) => (ended = resolve));
    client.on('event', (event) => {
      if (event.type === 'TASK_LOG' && event.log.taskId === id)
        print(options.json ? JSON.stringify(event.log) : event.log.line);
      if (event.type === 'TASK_COMPLETE' && event.task.id === id) ended();
    });
    process.once('SIGINT', () => ended());
    await client.subscribe();
    for (const line of await client.logs(id)) print(options.json ? JSON.stringify({ taskId: id, line }) : line);
    if (isFinishedState((await client.get(id)).state)) ended();
    await done;
  });
}

export function clusterStop(
  target: ClusterTarget,
  kind: 'cancel' | 'kill',
  id: string | undefined,
  options: { all?: boolean; json?: boolean },
): Promise<void> {
  return withCluster(target, async (client) => {
    const ids = options.all ? (await client.list()).map((task) => task.id) : [id!];
    const replies = [];
    for (const each of ids) replies.push(await (kind === 'cancel' ? client.cancel(each) : client.kill(each)));
    if (options.json) {
      if (options.all) printTaskJson({ tasks: replies.map((r) => r.task) }, 'tasks');
      else printTaskJson({ task: replies[0]!.task }, 'task');
      return;
    }
    if (options.all && replies.length === 0) {
      print('no active tasks in the cluster');
      return;
    }
    for (const reply of replies)
      print(
        `task ${reply.task.id}: ${stopNote(reply, kind === 'cancel' ? 'cancelling' : 'killing')}${reply.task.host && !isFinishedState(reply.task.state) ? ` on ${reply.task.host}` : ''}`,
      );
  });
}

export function clusterPause(
  target: ClusterTarget,
  kind: 'pause' | 'resume',
  id: string,
  options: { json?: boolean },
): Promise<void> {
  return withCluster(target, async (client) => {
    const { task } = await (kind === 'pause' ? client.pause(id) : client.resume(id));
    if (options.json) {
      printTaskJson({ task }, 'task');
      return;
    }
    print(`task ${task.id}: ${task.state}${task.host ? ` on ${task.host}` : ''}`);
  });
}

export function clusterRestart(target: ClusterTarget, id: string, options: { json?: boolean }): Promise<void> {
  return withCluster(target, async (client) => {
    const { task, nextAttempt } = await client.restart(id);
    if (options.json) {
      printTaskJson({ task }, 'task');
      return;
    }
    print(`task ${task.id}: restarting (attempt ${nextAttempt}, on any agent)`);
  });
}

export function clusterStopAll(target: ClusterTarget, options: { json?: boolean }): Promise<void> {
  return withCluster(target, async (client) => {
    const result = await client.stopAll();
    if (options.json) {
      printJson(result);
      return;
    }
    const agents = Object.keys(result.agents).sort();
    print(
      `stopped in ${duration(result.ms)} on ${agents.length} agent(s)${agents.length ? ` (${agents.join(', ')})` : ''}: ${result.cancelled} cancelled, ${result.killed} killed, ` +
        `${result.notStarted} never started, ${result.finished} finished on their own`,
    );
    if (result.missing.length > 0)
      print(`no report from ${result.missing.join(', ')}: their stop records stop their tasks when they are back`);
  });
}
