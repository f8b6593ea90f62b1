/**
 * `taskwarden web [--port N] [--host ADDR] [--allow-host NAME]`: the web page, served until Ctrl+C;
 * of the local daemon, or with --cluster URL (or $TASKWARDEN_CLUSTER) of a cluster's agents.
 */
import type { Command } from 'commander';
import { ClusterUrlError } from '../../cluster/connection.js';
import { loadTemplates } from '../../tui/config.js';
import { DEFAULT_WEB_PORT, startWebServer, type WebServer } from '../../web/server.js';
import { UsageError, globals } from '../context.js';
import { clusterTarget } from './cluster.js';

interface WebOptions {
  port: number;
  host?: string;
  allowHost: string[];
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export function registerWebCommand(program: Command): void {
  program
    .command('web')
    .description(
      "serve the web page (live tasks, start, cancel, kill, restart, pause, emergency stop) on 127.0.0.1; prints its address with the access token; with --cluster, of the cluster's agents",
    )
    .option('--port <n>', `TCP port (default ${DEFAULT_WEB_PORT}; 0 picks a free one)`, portOption, DEFAULT_WEB_PORT)
    .option(
      '--host <address>',
      'address to listen on (default 127.0.0.1: this machine only; use an SSH tunnel to reach it from elsewhere)',
    )
    .option(
      '--allow-host <name>',
      'another Host name to accept besides localhost and 127.0.0.1 (repeatable)',
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .action(async (options: WebOptions, command: Command) => {
      const { home, config } = globals(command) as { home?: string; config?: string };
      const { templates } = await loadTemplates({ config });
      const cluster = clusterTarget(command);
      const server = await startWebServer({
        home,
        port: options.port,
        host: options.host,
        allowHosts: options.allowHost,
        templates,
        ...(cluster ? { cluster } : {}),
      }).catch(clusterUsage);
      const lines = [
        `taskwarden web: serving the tasks of ${cluster ? `the cluster at ${server.home}` : server.home} at`,
        `  ${server.url}`,
        LOOPBACK.has(server.host)
          ? `from another machine: ssh -L ${server.port}:127.0.0.1:${server.port} THIS-HOST, then open http://localhost:${server.port}/?token=${server.token}`
          : `listening on ${server.host}: anyone who can reach it and has the address above can stop and start tasks (no TLS)`,
        `Ctrl+C stops the page; the tasks keep running in ${cluster ? 'the agents' : 'the daemon'}`,
      ];
      // Listening before the banner: a reader that sees the address may stop us at once (a pipe
      // write can wake it before this process runs again). One write: it sees the rest with it.
      const stopped = untilSignal();
      process.stdout.write(`${lines.join('\n')}\n`);
      await stopped;
      await server.close();
    });
}

/** A cluster address that is not one is a bad argument (exit 2). */
function clusterUsage(error: unknown): WebServer {
  if (error instanceof ClusterUrlError) throw new UsageError(error.message);
  throw error;
}

function portOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--port must be an integer from 0 to 65535, got "${value}"`);
  return n;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
