/**
 * The page's control requests: a protocol request checked by the protocol's own parser (the
 * daemon's schemas) and sent as it is, or a template start that becomes the template's
 * TASK_REQUEST, both to the Backend; its reply or its error become the HTTP answer. Starting work
 * goes through the templates only, so a page can run nothing the user did not configure.
 */
import type { ServerResponse } from 'node:http';
import { parseRequest, type RequestType } from '../protocol/index.js';
import type { Template } from '../tasks/templates.js';
import type { Backend } from './backend.js';
import { sendJson } from './http-json.js';

/** The protocol requests the page may send as they are. */
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

/** HTTP statuses of the errors a request can meet (the daemon's, the cluster link's); any other: unavailable. */
const ERROR_STATUS: Readonly<Record<string, number>> = {
  UNKNOWN_TASK: 404,
  BAD_MESSAGE: 400,
  BAD_SPEC: 400,
  NOT_PAUSABLE: 409,
  NOT_SUPPORTED: 501,
  INTERNAL: 500,
};

export class ControlRequests {
  readonly #link: Backend;
  readonly #templates: readonly Template[];

  constructor(link: Backend, templates: readonly Template[]) {
    this.#link = link;
    this.#templates = templates;
  }

  /** POST /api/request: `json` is a protocol request without its id. */
  async protocolRequest(json: unknown, response: ServerResponse): Promise<void> {
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

  /** POST /api/start: `json` is {template: key}. */
  async startTemplate(json: unknown, response: ServerResponse): Promise<void> {
    const key = (json as { template?: unknown } | null)?.template;
    const template = this.#templates.find((t) => t.key === key);
    if (!template) {
      const keys = this.#templates.map((t) => t.key).join(', ') || 'none';
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
      const reply = await this.#link.request(type, payload);
      sendJson(response, 200, { ...reply.payload, seq: reply.seq });
    } catch (error) {
      const { status, code } = errorStatus(error);
      sendJson(response, status, { error: { code, message: error instanceof Error ? error.message : String(error) } });
    }
  }
}

function errorStatus(error: unknown): { status: number; code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  // No code: the connection went away in the middle of the request.
  if (typeof code !== 'string') return { status: 503, code: 'DAEMON_DOWN' };
  return { status: ERROR_STATUS[code] ?? 503, code };
}
