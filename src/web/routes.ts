/**
 * The web server's routes: every request passes the Gate's checks in order (Host, then the token,
 * then for a POST its Origin) before anything else runs; then a GET is a page file, the event
 * stream or a small JSON read, and a POST a control request (control-requests.ts). A failure
 * inside a handler is logged and answered 500, never left hanging.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Template } from '../tasks/templates.js';
import type { Backend } from './backend.js';
import { ControlRequests } from './control-requests.js';
import type { EventHub } from './event-hub.js';
import { readJsonBody, refuse, sendJson } from './http-json.js';
import type { PageFiles } from './page-files.js';
import { RefusalLog } from './refusal-log.js';
import { setSecurityHeaders, type Gate, type Refusal } from './security.js';

export interface RoutesContext {
  gate: Gate;
  hub: EventHub;
  link: Backend;
  files: PageFiles;
  templates: readonly Template[];
  log: (line: string) => void;
}

export class Routes {
  readonly #ctx: RoutesContext;
  readonly #refusals: RefusalLog;
  readonly #control: ControlRequests;

  constructor(ctx: RoutesContext) {
    this.#ctx = ctx;
    this.#refusals = new RefusalLog(ctx.log);
    this.#control = new ControlRequests(ctx.link, ctx.templates);
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
      this.#tokenFromAddress(url, request, response);
      return;
    }
    const refusal = gate.checkToken(request) ?? (request.method === 'POST' ? gate.checkOrigin(request) : undefined);
    if (refusal) {
      this.#refuse(request, response, refusal);
      return;
    }
    if (request.method === 'POST') return this.#post(url.pathname, request, response);
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

  #tokenFromAddress(url: URL, request: IncomingMessage, response: ServerResponse): void {
    const { gate } = this.#ctx;
    if (!gate.isToken(url.searchParams.get('token'))) {
      this.#refuse(request, response, gate.addressTokenRefusal());
      return;
    }
    response.writeHead(303, { Location: '/', 'Set-Cookie': gate.cookieHeader() });
    response.end();
  }

  #refuse(request: IncomingMessage, response: ServerResponse, refusal: Refusal): void {
    this.#refusals.record(request, refusal);
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
    if (!file) return notFound(response, url.pathname);
    response.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  }

  async #post(path: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readJsonBody(request);
    if ('refusal' in body) {
      refuse(response, body.refusal, request);
      return;
    }
    switch (path) {
      case '/api/request':
        return this.#control.protocolRequest(body.value, response);
      case '/api/start':
        return this.#control.startTemplate(body.value, response);
      case '/api/daemon/start': {
        const { link } = this.#ctx;
        await link.connect(true);
        sendJson(response, link.state.up ? 200 : 503, { daemon: link.state });
        return;
      }
      default:
        notFound(response, path);
    }
  }
}

function notFound(response: ServerResponse, path: string): void {
  sendJson(response, 404, { error: { code: 'NOT_FOUND', message: `nothing is served at ${path.slice(0, 200)}` } });
}
