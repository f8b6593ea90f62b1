/**
 * `taskwarden logs <id> [--attempt N] [-f] [--json]`.
 *
 * -f reads the log files directly (LogStore.follow polls them; the daemon's
 * state directory is ours too) and asks the daemon only when the task ends or
 * starts a new attempt, so following a chatty task costs the daemon nothing.
 */
import type { Command } from 'commander';
import type { DaemonClient } from '../../daemon/client.js';
import { LogStore, type StoredLogLine } from '../../journal/index.js';
import type { DaemonEvent } from '../../protocol/index.js';
import { isFinishedState } from '../../journal/recorded-state.js';
import { UsageError, positiveInt, print, printJson, taskId } from '../context.js';
import { withReader } from '../reader.js';
import { clusterLogs, clusterTarget } from './cluster.js';

interface LogsOptions {
  attempt?: number;
  follow?: boolean;
  json?: boolean;
}

/** After the task ended: time for the daemon's log buffer (100 ms) and one follow poll (200 ms). */
const DRAIN_MS = 400;

export function registerLogsCommand(program: Command): void {
  program
    .command('logs')
    .description("print a task's output (stdout and stderr, the kept tail of each attempt)")
    .argument('<id>', 'task id', taskId)
    .option('--attempt <n>', 'which attempt (default: the latest)', positiveInt('--attempt'))
    .option('-f, --follow', 'keep printing new output until the task ends')
    .option('--json', 'print JSON (with -f: one JSON line per log line)')
    .action((id: string, options: LogsOptions, command: Command) => {
      const cluster = clusterTarget(command);
      if (cluster) return clusterLogs(cluster, id, options);
      return withReader(command, async (reader) => {
        if (options.follow && options.attempt !== undefined)
          throw new UsageError('logs: --follow follows the latest attempt; leave out --attempt');
        // Without a daemon nothing runs, so there is nothing to follow: the log is printed as it is.
        if (options.follow && reader.client) return follow(reader.client, id, options.json === true);
        const reply = await reader.request('LOGS', {
          taskId: id,
          ...(options.attempt ? { attempt: options.attempt } : {}),
        });
        if (options.json && options.follow) {
          reply.lines.forEach((line) => print(JSON.stringify(line)));
          return;
        }
        if (options.json) {
          printJson(reply);
          return;
        }
        for (const line of reply.lines) print(line.line);
      });
    });
}

async function follow(client: DaemonClient, id: string, json: boolean): Promise<void> {
  const write = (line: StoredLogLine) => (json ? print(JSON.stringify(line)) : print(line.line));
  const store = new LogStore(client.welcome.home);
  let ended!: () => void;
  const done = new Promise<void>((resolve) => (ended = resolve));
  let attempt = 0;
  let stop = () => {};
  const followAttempt = (next: number) => {
    if (next === attempt) return;
    stop();
    attempt = next;
    stop = store.follow(id, attempt, write, { fromStart: true });
  };
  const onEvent = (event: DaemonEvent) => {
    if (event.type === 'TASK_STATUS' && event.task.id === id && event.task.attempt > attempt)
      followAttempt(event.task.attempt);
    if (event.type === 'TASK_COMPLETE' && event.task.id === id) setTimeout(ended, DRAIN_MS);
  };
  client.on('event', onEvent);
  client.once('close', () => ended());
  process.once('SIGINT', () => ended());
  // Subscribe before looking at the task, so its end cannot fall between the two.
  await client.subscribe();
  const { task } = await client.request('GET', { taskId: id });
  followAttempt(Math.max(1, task.attempt));
  if (isFinishedState(task.state)) setTimeout(ended, DRAIN_MS);
  await done;
  stop();
}
