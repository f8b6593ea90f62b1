/** ls, show, cancel, kill, restart, stop-all, shutdown, history. */
import type { Command } from 'commander';
import type { DaemonClient } from '../../daemon/client.js';
import type { AttemptRecord, TransitionRecord } from '../../journal/index.js';
import { stringifyValue, type ResponseOf } from '../../protocol/index.js';
import { type TaskError } from '../../supervisor/types.js';
import { isFinishedState, type RecordedTask } from '../../journal/recorded-state.js';
import { TASK_HEADER, describeSpec, percent, table, taskRows, time } from '../format.js';
import { formatDuration } from '../../common/duration.js';
import { UsageError, connect, positiveInt, print, printJson, printTaskJson, taskId, withClient } from '../context.js';
import { withReader, type Reader } from '../reader.js';
import {
  clusterHistory,
  clusterLs,
  clusterPause,
  clusterRestart,
  clusterShow,
  clusterStop,
  clusterStopAll,
  clusterTarget,
} from './cluster.js';

export function registerTaskCommands(program: Command): void {
  program
    .command('ls')
    .description('list the tasks of the running daemon (active ones; --all adds finished and earlier ones)')
    .option('-a, --all', 'include finished tasks and tasks of earlier daemons')
    .option('--json', 'print JSON')
    .action((options: { all?: boolean; json?: boolean }, command: Command) => {
      const cluster = clusterTarget(command);
      if (cluster) return clusterLs(cluster, options);
      return withReader(command, async (reader) => {
        const { tasks } = await reader.request('LIST', { includeFinished: options.all === true });
        if (options.json) {
          printTaskJson({ tasks }, 'tasks');
          return;
        }
        const none = options.all ? 'no tasks' : 'no active tasks ("taskwarden ls --all" shows finished ones)';
        print(tasks.length === 0 ? none : table(TASK_HEADER, taskRows(tasks)));
        noteNoDaemon(reader, tasks);
      });
    });

  program
    .command('show')
    .description('show one task: its spec, outcome, attempts and state transitions')
    .argument('<id>', 'task id', taskId)
    .option('--json', 'print JSON')
    .action((id: string, options: { json?: boolean }, command: Command) => {
      const cluster = clusterTarget(command);
      if (cluster) return clusterShow(cluster, id, options);
      return withReader(command, async (reader) => {
        const reply = await reader.request('GET', { taskId: id });
        if (options.json) {
          printTaskJson(reply);
          return;
        }
        print(describeTask(reply.task, reply.attempts, reply.transitions));
        noteNoDaemon(reader, [reply.task]);
      });
    });

  registerStop(
    program,
    'cancel',
    'TASK_CANCEL',
    'cancel a task gracefully (its cleanup runs; SIGKILL after the grace period)',
    'cancelling',
  );
  registerStop(program, 'kill', 'TASK_KILL', 'kill a task now: SIGKILL to its whole process group', 'killing');

  for (const [name, type, description] of [
    [
      'pause',
      'TASK_PAUSE',
      'freeze a running task where it is (every process of it; it keeps its memory) until "resume"',
    ],
    ['resume', 'TASK_RESUME', 'let a paused task run on'],
  ] as const) {
    program
      .command(name)
      .description(description)
      .argument('<id>', 'task id', taskId)
      .option('--json', 'print JSON')
      .action((id: string, options: { json?: boolean }, command: Command) => {
        const cluster = clusterTarget(command);
        if (cluster) return clusterPause(cluster, name, id, options);
        return withClient(command, async (client) => {
          const { task } = (await client.request(type, { taskId: id })) as { task: RecordedTask };
          if (options.json) {
            printTaskJson({ task }, 'task');
            return;
          }
          print(`task ${task.id}: ${task.state}`);
        });
      });
  }

  program
    .command('restart')
    .description('kill the current attempt of a task (if any) and run it again under the same id')
    .argument('<id>', 'task id', taskId)
    .option('--json', 'print JSON')
    .action((id: string, options: { json?: boolean }, command: Command) => {
      const cluster = clusterTarget(command);
      if (cluster) return clusterRestart(cluster, id, options);
      return withClient(command, async (client) => {
        const { task } = await client.request('TASK_RESTART', { taskId: id });
        if (options.json) {
          printTaskJson({ task }, 'task');
          return;
        }
        print(`task ${task.id}: restarting (attempt ${task.attempt})`);
      });
    });

  program
    .command('stop-all')
    .description(
      'the emergency stop: cancel every task at once (queued ones never start), SIGKILL after the grace period; returns when every process is gone',
    )
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) => {
      const cluster = clusterTarget(command);
      if (cluster) return clusterStopAll(cluster, options);
      return withClient(command, async (client) => {
        const { result } = await client.request('STOP_ALL');
        if (options.json) {
          printJson(result);
          return;
        }
        print(
          `stopped in ${formatDuration(result.ms)}: ${result.cancelled} cancelled, ${result.killed} killed, ${result.notStarted} never started, ${result.finished} finished on their own`,
        );
      });
    });

  program
    .command('shutdown')
    .description('stop every task and the daemon (it exits once every process is gone)')
    .action((_options: unknown, command: Command) => shutdown(command));

  program
    .command('history')
    .description('finished tasks, most recently ended first (from the journal, across daemon restarts)')
    .option('-n, --limit <n>', 'how many', positiveInt('--limit'), 20)
    .option('--json', 'print JSON')
    .action((options: { limit: number; json?: boolean }, command: Command) => {
      const cluster = clusterTarget(command);
      if (cluster) return clusterHistory(cluster, options);
      return withReader(command, async (reader) => {
        const { tasks } = await reader.request('HISTORY', { limit: options.limit });
        if (options.json) {
          printTaskJson({ tasks }, 'tasks');
          return;
        }
        const rows = tasks.map((t) => [
          t.id,
          t.state,
          time(t.endedAt),
          formatDuration(t.outcome?.durationMs),
          outcomeNote(t),
          t.name,
        ]);
        print(
          tasks.length === 0
            ? 'no finished tasks yet'
            : table(['ID', 'STATE', 'ENDED', 'TOOK', 'DETAIL', 'NAME'], rows),
        );
      });
    });
}

function registerStop(
  program: Command,
  name: string,
  type: 'TASK_CANCEL' | 'TASK_KILL',
  description: string,
  doing: string,
): void {
  program
    .command(name)
    .description(`${description}; --all: every active task`)
    .argument('[id]', 'task id', taskId)
    .option('--all', 'every active task')
    .option('--json', 'print JSON')
    .action((id: string | undefined, options: { all?: boolean; json?: boolean }, command: Command) => {
      if ((id === undefined) === !options.all) throw new UsageError(`${name}: give a task id or --all (not both)`);
      const cluster = clusterTarget(command);
      if (cluster) return clusterStop(cluster, type === 'TASK_CANCEL' ? 'cancel' : 'kill', id, options);
      return withClient(command, async (client) => {
        const ids = options.all ? await activeIds(client) : [id!];
        const replies: StopReply[] = [];
        for (const each of ids) replies.push(await client.request(type, { taskId: each }));
        if (options.json && options.all) {
          printTaskJson({ tasks: replies.map((r) => r.task) }, 'tasks');
          return;
        }
        if (options.json) {
          printTaskJson({ task: replies[0]!.task }, 'task');
          return;
        }
        if (options.all && replies.length === 0) {
          print('no active tasks');
          return;
        }
        for (const reply of replies) print(`task ${reply.task.id}: ${stopNote(reply, doing)}`);
      });
    });
}

type StopReply = ResponseOf<'TASK_CANCEL' | 'TASK_KILL'>;

/**
 * "already cancelled" only when the task had ended before this request: a queued task
 * that this very request stopped ends at once, and says so.
 */
export function stopNote({ task, previous }: StopReply, doing: string): string {
  if (!isFinishedState(task.state)) return doing;
  if (previous === undefined || isFinishedState(previous)) return `already ${task.state}`;
  return previous === 'queued' ? `${task.state} (it had not started)` : task.state;
}

async function activeIds(client: DaemonClient): Promise<string[]> {
  const { tasks } = await client.request('LIST');
  return tasks.filter((t) => !isFinishedState(t.state)).map((t) => t.id);
}

async function shutdown(command: Command): Promise<void> {
  let client: DaemonClient;
  try {
    client = await connect(command, false);
  } catch (error) {
    if ((error as { code?: string }).code === 'NO_DAEMON') {
      print((error as Error).message.replace(/: start one.*/, ''));
      return;
    }
    throw error;
  }
  const pid = client.welcome.daemonPid;
  const gone = new Promise<void>((resolve) => client.once('close', () => resolve()));
  await client.request('SHUTDOWN');
  print(`daemon (pid ${pid}) is stopping every task...`);
  await gone;
  print(`daemon (pid ${pid}) stopped`);
}

/**
 * Read from the journal because no daemon runs: a task recorded as still active belonged to a
 * daemon that died; the next daemon's recovery settles it (interrupted).
 */
function noteNoDaemon(reader: Reader, tasks: RecordedTask[]): void {
  if (reader.live) return;
  const active = tasks.filter((t) => !isFinishedState(t.state)).map((t) => t.id);
  if (active.length === 0) return;
  process.stderr.write(
    `taskwarden: no daemon runs for ${reader.home}: this is what the journal recorded; task${active.length > 1 ? 's' : ''} ${active.join(', ')} ` +
      `${active.length > 1 ? 'were' : 'was'} still active when ${active.length > 1 ? 'their' : 'its'} daemon stopped, and the next daemon marks ${active.length > 1 ? 'them' : 'it'} interrupted\n`,
  );
}

export function outcomeNote(task: RecordedTask): string {
  const outcome = task.outcome;
  if (task.state === 'interrupted') return 'daemon exited';
  if (!outcome) return '';
  if (outcome.error) return truncate(errorTitle(outcome.error), 60);
  if (outcome.signal) return outcome.signal;
  if (outcome.exitCode !== undefined && outcome.exitCode !== null) return `exit ${outcome.exitCode}`;
  return outcome.stopReason ?? '';
}

function truncate(text: string, max: number): string {
  const line = text.split('\n')[0]!;
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** "RangeError: tile 7 is out of range", with the code when there is one: "Error [EXIT_CODE]: ...". */
function errorTitle(error: TaskError): string {
  return `${error.name || 'Error'}${error.code ? ` [${error.code}]` : ''}: ${error.message}`;
}

/** The stack's frames (the lines after the one that repeats name and message), indented. */
function stackLines(error: TaskError, indent: string): string[] {
  if (!error.stack) return [];
  let stack = error.stack;
  const head = `${error.name}: ${error.message}`;
  if (stack.startsWith(head)) stack = stack.slice(head.length);
  else if (stack.startsWith(error.message)) stack = stack.slice(error.message.length);
  return stack
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => `${indent}${line}`);
}

export function describeTask(task: RecordedTask, attempts: AttemptRecord[], transitions: TransitionRecord[]): string {
  const lines = [
    `task ${task.id} (${task.name}): ${task.state}${task.stopReason ? ` (${task.stopReason})` : ''}`,
    `  ${describeSpec(task)}`,
    `  attempt ${task.attempt}${task.pid !== undefined ? `, pid ${task.pid}` : ''}, progress ${percent(task.progress)}${task.progress?.message ? ` (${task.progress.message})` : ''}`,
    `  created ${time(task.createdAt)}, started ${time(task.startedAt)}, ended ${time(task.endedAt)}`,
  ];
  const outcome = task.outcome;
  if (outcome) {
    // A module task's exit code is its runner's (0 once it reported its result or error): only a command's, or a crash's, says something.
    const exitCode =
      outcome.exitCode != null && (task.kind === 'command' || outcome.exitCode !== 0)
        ? `, exit code ${outcome.exitCode}`
        : '';
    lines.push(
      `  outcome: ${outcome.state} after ${formatDuration(outcome.durationMs)}${exitCode}${outcome.signal ? `, signal ${outcome.signal}` : ''}${outcome.escalated ? ', escalated to SIGKILL' : ''}`,
    );
    if (outcome.error) lines.push(`  error: ${errorTitle(outcome.error)}`, ...stackLines(outcome.error, '    '));
    if (outcome.result !== undefined) lines.push(`  result: ${truncate(stringifyValue(outcome.result), 200)}`);
  }
  if (attempts.length > 1) {
    lines.push(
      '',
      table(
        ['ATTEMPT', 'STATE', 'PID', 'TOOK', 'DETAIL'],
        attempts.map((a) => [
          String(a.attempt),
          a.state,
          a.pid === undefined ? '-' : String(a.pid),
          formatDuration(a.durationMs),
          a.error ? truncate(errorTitle(a.error), 60) : '',
        ]),
      ),
    );
  }
  if (transitions.length > 0) {
    lines.push(
      '',
      table(
        ['AT', 'ATTEMPT', 'FROM', 'TO'],
        transitions.map((t) => [time(t.at), String(t.attempt), t.from ?? '(new)', t.to]),
      ),
    );
  }
  return lines.join('\n');
}
