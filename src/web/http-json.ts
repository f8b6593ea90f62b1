/**
 * The web server's JSON over HTTP: a request's body read with a size bound (a control request is
 * small, so a large one is refused before it costs memory), and the answers, JSON for the page and a
 * line of text for a person who opened an address in the browser.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Refusal } from './security.js';

/** A control request is a few hundred bytes; this leaves room and bounds what a request can cost. */
const MAX_BODY_BYTES = 64 * 1024;

export async function readJsonBody(request: IncomingMessage): Promise<{ value: unknown } | { refusal: Refusal }> {
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
  return parseJson(Buffer.concat(chunks).toString('utf8'));
}

function parseJson(text: string): { value: unknown } | { refusal: Refusal } {
  try {
    return { value: JSON.parse(text) };
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
export function refuse(response: ServerResponse, refusal: Refusal, request?: IncomingMessage): void {
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

export function sendJson(response: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  if (status === 413) response.setHeader('Connection', 'close');
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(text);
}
