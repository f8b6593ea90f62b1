/**
 * A request from a connection to its handler (handlers.ts) and back: exactly one reply per
 * request, ACK or WELCOME from what the handler returned (task values as the client reads them,
 * replies with many tasks fitted to a line), ERROR from whatever it threw (INTERNAL, logged, for
 * anything but a RequestError). HELLO comes first.
 */
import {
  PROTOCOL_VERSION,
  ack,
  errorReply,
  type Request,
  type RequestType,
  type ResponseOf,
} from '../protocol/index.js';
import type { Connection } from './connection.js';
import { fitPayload } from './fit.js';
import { RequestError, type Handlers } from './handlers.js';
import { wirePayload } from './wire.js';

/** Replies that carry task lists or records of any size: slimmed to fit in a line (fit.ts). */
const FITTED_REPLIES: ReadonlySet<string> = new Set(['LIST', 'GET', 'HISTORY']);

/** Exactly one reply per request: ACK/WELCOME from the handler, ERROR from whatever it threw. */
export function dispatchRequest(
  connection: Connection,
  request: Request,
  handlers: Handlers,
  log: (message: string) => void,
): void {
  connection.beginRequest();
  const after: Array<() => void> = [];
  const reply = (message: object) => {
    connection.send(message);
    for (const fn of after) fn();
    connection.endRequest();
  };
  try {
    if (request.type !== 'HELLO' && !connection.hello) {
      throw new RequestError(
        'BAD_MESSAGE',
        `send HELLO with protocol version ${PROTOCOL_VERSION} before ${request.type}`,
      );
    }
    const result = handlers[request.type](request as never, connection, (fn) => after.push(fn));
    if (result instanceof Promise) {
      result.then(
        (payload) => reply(success(connection, request, payload)),
        (error: unknown) => reply(failure(request, error, log)),
      );
    } else {
      reply(success(connection, request, result));
    }
  } catch (error) {
    reply(failure(request, error, log));
  }
}

function success(connection: Connection, request: Request, payload: ResponseOf<RequestType>): object {
  if (request.type === 'HELLO') return { type: 'WELCOME', id: request.id, ...payload };
  // Task values as this client reads them; then, for replies that carry many tasks, fitted to a line.
  const wire = wirePayload(payload, connection.values);
  return ack(request.id, FITTED_REPLIES.has(request.type) ? fitPayload(wire) : wire);
}

function failure(request: Request, error: unknown, log: (message: string) => void): object {
  if (error instanceof RequestError) return errorReply(request.id, error.code, error.message);
  const message = error instanceof Error ? error.message : String(error);
  log(`handling ${request.type} failed: ${error instanceof Error && error.stack ? error.stack : message}`);
  return errorReply(request.id, 'INTERNAL', `handling ${request.type} failed: ${message}`);
}
