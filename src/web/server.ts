/**
 * `taskwarden web`: the HTTP server of the web page, started and stopped as one. It serves a fixed
 * set of files from the package (page-files.ts), one event stream (Server-Sent Events,
 * event-hub.ts) and a few POSTs that become protocol requests to the daemon through
 * daemon-link.ts, so the page, the terminal UI and the CLI share one code path into the daemon;
 * with --cluster, the same requests go to a cluster's agents through cluster-link.ts (both are a
 * Backend, backend.ts). Every request passes the Gate (security.ts) first, in routes.ts. Node's
 * own http module: SSE and five routes need no framework.
 */
import http from 'node:http';
import { resolveHome } from '../daemon/home.js';
import type { Template } from '../tasks/templates.js';
import type { Backend } from './backend.js';
import { DaemonLink } from './daemon-link.js';
import { EventHub } from './event-hub.js';
import { loadPageFiles } from './page-files.js';
import { Routes } from './routes.js';
import { Gate } from './security.js';

export const DEFAULT_WEB_PORT = 8787;
const CLIENT_NAME = 'taskwarden-web';

export interface WebServerOptions {
  /** State directory of the daemon to show (as --home). */
  home?: string;
  /** Default DEFAULT_WEB_PORT; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: reachable from this machine only (and through an SSH tunnel). */
  host?: string;
  /** Host names accepted besides the loopback names and `host`. */
  allowHosts?: readonly string[];
  /** What the page's start buttons run (the terminal UI's templates). */
  templates?: readonly Template[];
  /** Start a daemon when none runs. Default true. */
  autostart?: boolean;
  /** Show a cluster instead of the local daemon: its Redis (redis://HOST:PORT) and queue. */
  cluster?: { url: string; queue?: string };
  log?: (line: string) => void;
}

export interface WebServer {
  /** The address to open, token included. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly token: string;
  /** The daemon's state directory, or the cluster's address. */
  readonly home: string;
  /** The daemon or cluster connection: whether it is up, and its pid. */
  readonly link: Backend;
  close(): Promise<void>;
}

export async function startWebServer(options: WebServerOptions = {}): Promise<WebServer> {
  const home = resolveHome({ home: options.home });
  const host = options.host ?? '127.0.0.1';
  const files = loadPageFiles();
  const log = options.log ?? ((line: string) => process.stderr.write(`taskwarden web: ${line}\n`));
  const hub = new EventHub();
  const link = options.cluster
    ? await clusterLink(options.cluster, hub, log)
    : new DaemonLink({ home, hub, clientName: CLIENT_NAME, log });
  const server = http.createServer();
  let port: number;
  try {
    port = await listen(server, host, options.port ?? DEFAULT_WEB_PORT);
  } catch (error) {
    link.close();
    hub.close();
    throw error;
  }
  const gate = new Gate({ bindHost: host, port, allowHosts: options.allowHosts });
  const routes = new Routes({ gate, hub, link, files, templates: options.templates ?? [], log });
  server.on('request', (request, response) => routes.handle(request, response));
  await link.connect(options.autostart ?? true);
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/?token=${gate.token}`,
    port,
    host,
    token: gate.token,
    home: link.state.home,
    link,
    close: async () => {
      link.close();
      hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Loaded only for a cluster: BullMQ and ioredis are not needed otherwise. */
async function clusterLink(
  cluster: { url: string; queue?: string },
  hub: EventHub,
  log: (line: string) => void,
): Promise<Backend> {
  const [{ ClusterClient }, { displayUrl }, { ClusterLink }] = await Promise.all([
    import('../cluster/client.js'),
    import('../cluster/connection.js'),
    import('./cluster-link.js'),
  ]);
  const client = await ClusterClient.connect({
    redis: cluster.url,
    ...(cluster.queue !== undefined ? { queue: cluster.queue } : {}),
  });
  const link = new ClusterLink({ client, shownUrl: displayUrl(cluster.url), hub, log });
  try {
    await link.connect();
  } catch (error) {
    link.close();
    throw error;
  }
  return link;
}

function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        reject(
          new Error(`port ${port} on ${host} is in use: choose another with --port N (--port 0 picks a free one)`),
        );
      else if (error.code === 'EADDRNOTAVAIL') reject(new Error(`${host} is not an address of this machine (--host)`));
      else reject(error);
    });
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
}
