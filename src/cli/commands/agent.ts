/**
 * `taskwarden agent --redis redis://host:6379 [--queue NAME] [--concurrency N] [--name HOST] ...`:
 * the agent of this machine in a cluster (src/cluster/agent.ts), in the foreground until SIGTERM or
 * SIGINT; then its running tasks are stopped and their jobs go back to the queue for other agents.
 */
import type { Command } from 'commander';
import { Agent, agentHome } from '../../cluster/agent.js';
import { redisOptions } from '../../cluster/connection.js';
import { resolveHome } from '../../daemon/home.js';
import type { Priority } from '../../process/priority.js';
import { UsageError, globals, positiveInt, priorityOption } from '../context.js';
import { clusterTarget } from './cluster.js';

interface AgentCommandOptions {
  redis?: string;
  concurrency?: number;
  name?: string;
  lockDuration?: number;
  stalledInterval?: number;
  graceMs?: number;
  priority?: Priority;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description(
      "run this machine's agent of a cluster: take jobs from the queue and run each as a task here (stops reach it from any machine)",
    )
    .option(
      '--redis <url>',
      "the cluster's Redis: redis://HOST:PORT, rediss://…, unix:///path (default: --cluster, $TASKWARDEN_CLUSTER)",
    )
    .option('--concurrency <n>', 'tasks at once (default: the number of CPUs)', positiveInt('--concurrency'))
    .option('--name <host>', 'the name shown in the HOST column (default: the hostname)')
    .option(
      '--lock-duration <ms>',
      "BullMQ lock duration: a dead agent's job runs elsewhere about this long after (default 10000)",
      positiveInt('--lock-duration'),
    )
    .option(
      '--stalled-interval <ms>',
      'how often expired locks are looked for (default 1000)',
      positiveInt('--stalled-interval'),
    )
    .option('--grace-ms <ms>', 'how long a cancel may take before SIGKILL (default 3000)', positiveInt('--grace-ms'))
    .option('--priority <level>', 'CPU priority of tasks: idle (default), low or normal', priorityOption)
    .addHelpText(
      'after',
      '\nState (journal, logs) goes to <state directory>/agent-<queue>; one agent per state directory.\nExample:\n  taskwarden agent --redis redis://10.0.0.5:6379 --concurrency 4',
    )
    .action(async (options: AgentCommandOptions, command: Command) => {
      const target = clusterTarget(command);
      const redis = options.redis ?? target?.url;
      const { queue } = command.optsWithGlobals<{ queue?: string }>();
      if (!redis)
        throw new UsageError(
          "agent: give the cluster's Redis with --redis redis://HOST:PORT (or --cluster, or $TASKWARDEN_CLUSTER)",
        );
      const home = agentHome(resolveHome({ home: globals(command).home }), queue ?? 'taskwarden');
      try {
        redisOptions(redis);
      } catch (error) {
        throw new UsageError(`agent: ${(error as Error).message}`);
      }
      // Listening before it says 'ready': a reader of that line may stop it at once (a pipe write
      // can wake the reader before this process runs again).
      let started = false;
      const stopped = new Promise<NodeJS.Signals>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          // Still starting (Redis slow to answer, say): the signal's own effect, as before we listened.
          // Agent.start resolves in the same turn as its 'ready' line, so a reader of it finds us started.
          if (!started) process.kill(process.pid, signal);
          resolve(signal);
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      const agent = await Agent.start({
        redis,
        home,
        ...(queue !== undefined ? { queue } : {}),
        ...(options.name !== undefined ? { name: options.name } : {}),
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.lockDuration !== undefined ? { lockDurationMs: options.lockDuration } : {}),
        ...(options.stalledInterval !== undefined ? { stalledIntervalMs: options.stalledInterval } : {}),
        supervisor: {
          ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
          ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
          ...(options.priority !== undefined ? { priority: options.priority } : {}),
        },
      });
      started = true;
      const signal = await stopped;
      process.stderr.write(`agent ${agent.name}: ${signal}: stopping its tasks; their jobs go back to the queue\n`);
      await agent.close();
    });
}
