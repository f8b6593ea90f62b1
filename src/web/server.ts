/**
 * `taskwarden web`: the HTTP side of the web page. It serves a fixed set of files from the package
 * (never a path taken from a request), one event stream (Server-Sent Events, event-hub.ts) and a
 * few POSTs that become protocol requests to the daemon through daemon-link.ts, so the page, the
 * terminal UI and the CLI share one code path into the daemon; with --cluster, the same requests
 * go to a cluster's agents through cluster-link.ts (both are a Backend, backend.ts). Every request
 * passes the Gate (security.ts) first. Node's own http module: SSE and five routes need no framework.
 */
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { resolveHome } from '../daemon/home.js';
import { parseRequest, type RequestType } from '../protocol/index.js';
import type { Template } from '../tasks/templates.js';
import type { Backend } from './backend.js';
import { DaemonLink } from './daemon-link.js';
import { EventHub } from './event-hub.js';
import { Gate, setSecurityHeaders, type Refusal } from './security.js';

export const DEFAULT_WEB_PORT = 8787;
const CLIENT_NAME = 'taskwarden-web';
/** A control request is a few hundred bytes; this leaves room and bounds what a request can cost. */
const MAX_BODY_BYTES = 64 * 1024;
const REFUSALS_LOGGED = 20;

/** The protocol requests the page may send as they are; starting work goes through the templates only. */
const PAGE_REQUESTS: ReadonlySet<RequestType> = new Set([
  'TASK_CANCEL',
  'TASK_KILL',
  'TASK_RESTART',
  'TASK_PAUSE',
  'TASK_RESUME',
  'STOP_ALL',
  'GET',
  'LOGS',
  'LIST',
  'HISTORY',
]);

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

/** One file of the page: where it lies in the package, and its type. */
interface PageFile {
  path: string;
  type: string;
}

const assets = (name: string) => fileURLToPath(new URL(`../../../assets/web/${name}`, import.meta.url));
const compiled = (name: string) => fileURLToPath(new URL(`./page/${name}`, import.meta.url));
const JS = 'text/javascript; charset=utf-8';

/** Everything the server ever sends from disk. */
const PAGE_FILES: Readonly<Record<string, PageFile>> = {
  '/': { path: assets('index.html'), type: 'text/html; charset=utf-8' },
  '/style.css': { path: assets('style.css'), type: 'text/css; charset=utf-8' },
  '/app.js': { path: compiled('app.js'), type: JS },
  '/model.js': { path: compiled('model.js'), type: JS },
  '/view.js': { path: compiled('view.js'), type: JS },
  '/format.js': { path: compiled('format.js'), type: JS },
};

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

function loadPageFiles(): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [route, file] of Object.entries(PAGE_FILES)) {
    try {
      files.set(route, { body: readFileSync(file.path), type: file.type });
    } catch (error) {
      throw new Error(
        `the web page's file ${file.path} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): build taskwarden first ("npm run build")`,
        { cause: error },
      );
    }
  }
  return files;
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

interface RoutesContext {
  gate: Gate;
  hub: EventHub;
  link: Backend;
  files: Map<string, { body: Buffer; type: string }>;
  templates: readonly Template[];
  log: (line: string) => void;
}

class Routes {
  readonly #ctx: RoutesContext;
  #refusalWindow = { start: 0, logged: 0, dropped: 0 };

  constructor(ctx: RoutesContext) {
    this.#ctx = ctx;
  }

  handle(request: IncomingMessage, response: ServerResponse): void {
    setSecurityHeaders(response);
    this.#route(request, response).catch((error: unknown) => {
      this.#ctx.log(`${request.method} ${request.url} failed: ${error instanceof Error ? error.stack : String(error)}`);
      if (!response.headersSent)
        sendJson(response, 500, { error: { code: 'INTERNAL', message: `the web server failed: ${String(error)}` } });
      else response.destroy();
    });
  }

  async #route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { gate } = this.#ctx;
    const hostRefusal = gate.checkHost(request);
    if (hostRefusal) {
      this.#refuse(request, response, hostRefusal);
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    // The address printed on start: its token becomes a cookie, and the address loses it.
    if (request.method === 'GET' && url.pathname === '/' && url.searchParams.has('token')) {
      if (!gate.isToken(url.searchParams.get('token'))) {
        this.#refuse(request, response, gate.addressTokenRefusal());
        return;
      }
      response.writeHead(303, { Location: '/', 'Set-Cookie': gate.cookieHeader() });
      response.end();
      return;
    }
    const tokenRefusal = gate.checkToken(request);
    if (tokenRefusal) {
      this.#refuse(request, response, tokenRefusal);
      return;
    }
    if (request.method === 'POST') {
      const originRefusal = gate.checkOrigin(request);
      if (originRefusal) {
        this.#refuse(request, response, originRefusal);
        return;
      }
      return this.#post(url.pathname, request, response);
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, POST');
      sendJson(response, 405, {
        error: {
          code: 'METHOD_NOT_ALLOWED',
          message: `${String(request.method).slice(0, 20)} is not used here (GET and POST are)`,
        },
      });
      return;
    }
    this.#get(url, request, response);
  }

  /**
   * A refused request is said in the log (what was asked, from which Origin and Host, and why), at
   * most REFUSALS_LOGGED per minute so that a hostile page cannot flood it.
   */
  #refuse(request: IncomingMessage, response: ServerResponse, refusal: Refusal): void {
    const now = Date.now();
    if (now - this.#refusalWindow.start > 60_000) {
      if (this.#refusalWindow.dropped > 0)
        this.#ctx.log(`${this.#refusalWindow.dropped} more request(s) refused in the last minute`);
      this.#refusalWindow = { start: now, logged: 0, dropped: 0 };
    }
    if (this.#refusalWindow.logged++ < REFUSALS_LOGGED) {
      const from = `Origin ${request.headers.origin ?? '(none)'}, Host ${String(request.headers.host ?? '(none)').slice(0, 100)}`;
      this.#ctx.log(
        `refused ${request.method} ${(request.url ?? '').split('?')[0]!.slice(0, 100)} (${from}): ${refusal.code}`,
      );
    } else {
      this.#refusalWindow.dropped += 1;
    }
    refuse(response, refusal, request);
  }

  #get(url: URL, request: IncomingMessage, response: ServerResponse): void {
    const { hub, link, files, templates } = this.#ctx;
    if (url.pathname === '/api/events') {
      const lastEventId =
        (request.headers['last-event-id'] as string | undefined) ?? url.searchParams.get('lastEventId') ?? undefined;
      hub.attach(response, lastEventId, () => link.snapshot());
      return;
    }
    if (url.pathname === '/api/templates') {
      return sendJson(response, 200, {
        templates: templates.map(({ key, name, description }) => ({
          key,
          name,
          ...(description ? { description } : {}),
        })),
      });
    }
    if (url.pathname === '/api/session')
      return sendJson(response, 200, { daemon: link.state, epoch: hub.epoch, seq: hub.seq });
    const file = files.get(url.pathname);
    if (!file)
      return sendJson(response, 404, {
        error: { code: 'NOT_FOUND', message: `nothing is served at ${url.pathname.slice(0, 200)}` },
      });
    response.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  }

  async #post(path: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readJsonBody(request);
    if ('refusal' in body) {
      refuse(response, body.refusal, request);
      return;
    }
    const json = body.value;
    switch (path) {
      case '/api/request':
        return this.#protocolRequest(json, response);
      case '/api/start':
        return this.#startTemplate(json, response);
      case '/api/daemon/start':
        await this.#ctx.link.connect(true);
        {
          sendJson(response, this.#ctx.link.state.up ? 200 : 503, { daemon: this.#ctx.link.state });
          return;
        }
      default: {
        sendJson(response, 404, {
          error: { code: 'NOT_FOUND', message: `nothing is served at ${path.slice(0, 200)}` },
        });
        return;
      }
    }
  }

  /** A protocol request, checked by the protocol's own parser (the daemon's schemas), then sent as it is. */
  async #protocolRequest(json: unknown, response: ServerResponse): Promise<void> {
    const type = (json as { type?: unknown } | null)?.type;
    if (typeof type !== 'string' || !PAGE_REQUESTS.has(type as RequestType)) {
      sendJson(response, 400, {
        error: {
          code: 'BAD_MESSAGE',
          message: `type: expected one of ${[...PAGE_REQUESTS].join(', ')}, got ${JSON.stringify(type)?.slice(0, 80)}`,
        },
      });
      return;
    }
    const parsed = parseRequest(JSON.stringify({ ...(json as object), id: 1 }));
    if (!parsed.ok) {
      sendJson(response, 400, { error: { code: parsed.error.code, message: parsed.error.message } });
      return;
    }
    const { type: _type, id: _id, ...payload } = parsed.request;
    return this.#forward(type as RequestType, payload, response);
  }

  async #startTemplate(json: unknown, response: ServerResponse): Promise<void> {
    const key = (json as { template?: unknown } | null)?.template;
    const template = this.#ctx.templates.find((t) => t.key === key);
    if (!template) {
      const keys = this.#ctx.templates.map((t) => t.key).join(', ') || 'none';
      sendJson(response, 400, {
        error: {
          code: 'BAD_MESSAGE',
          message: `template: expected a template key (${keys}), got ${JSON.stringify(key)?.slice(0, 80)}`,
        },
      });
      return;
    }
    return this.#forward('TASK_REQUEST', { spec: template.spec }, response);
  }

  async #forward(type: RequestType, payload: object, response: ServerResponse): Promise<void> {
    try {
      const reply = await this.#ctx.link.request(type, payload);
      sendJson(response, 200, { ...reply.payload, seq: reply.seq });
    } catch (error) {
      const { status, code } = errorStatus(error);
      sendJson(response, status, { error: { code, message: error instanceof Error ? error.message : String(error) } });
    }
  }
}

/** HTTP statuses of the errors a request can meet (the daemon's, the cluster link's); any other: unavailable. */
const ERROR_STATUS: Readonly<Record<string, number>> = {
  UNKNOWN_TASK: 404,
  BAD_MESSAGE: 400,
  BAD_SPEC: 400,
  NOT_PAUSABLE: 409,
  NOT_SUPPORTED: 501,
  INTERNAL: 500,
};

function errorStatus(error: unknown): { status: number; code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  // No code: the connection went away in the middle of the request.
  if (typeof code !== 'string') return { status: 503, code: 'DAEMON_DOWN' };
  return { status: ERROR_STATUS[code] ?? 503, code };
}

async function readJsonBody(request: IncomingMessage): Promise<{ value: unknown } | { refusal: Refusal }> {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    request.resume();
    return {
      refusal: {
        status: 415,
        code: 'BAD_CONTENT_TYPE',
        message: `send JSON (Content-Type: application/json), not ${JSON.stringify(type.slice(0, 80))}`,
      },
    };
  }
  const tooLarge: Refusal = {
    status: 413,
    code: 'TOO_LARGE',
    message: `the request body is over ${MAX_BODY_BYTES} bytes`,
  };
  if (Number(request.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    // Answered without reading it; the connection closes after the answer (Connection: close).
    request.resume();
    return { refusal: tooLarge };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      request.destroy();
      return { refusal: tooLarge };
    }
    chunks.push(chunk);
  }
  try {
    return { value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch (error) {
    return {
      refusal: {
        status: 400,
        code: 'BAD_JSON',
        message: `the body is not valid JSON: ${String((error as Error).message).slice(0, 160)}`,
      },
    };
  }
}

/** JSON for the page's own requests; a line of text for a person who opened an address in the browser. */
function refuse(response: ServerResponse, refusal: Refusal, request?: IncomingMessage): void {
  if (request && !request.url?.startsWith('/api/')) {
    const text = `taskwarden web: ${refusal.message}\n`;
    response.writeHead(refusal.status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
    });
    response.end(text);
    return;
  }
  sendJson(response, refusal.status, { error: { code: refusal.code, message: refusal.message } });
}

function sendJson(response: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  if (status === 413) response.setHeader('Connection', 'close');
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(text);
}
