/**
 * Line -> message parsers for both directions. They never throw: any input,
 * however broken, gives either a message or an error the receiver can send back
 * (daemon) or report (client). Where the line is a JSON object with a valid `id`,
 * the error keeps that id so the ERROR reply reaches the request that caused it.
 */
import type { z } from 'zod';
import {
  DAEMON_MESSAGE_SCHEMAS,
  REQUEST_SCHEMAS,
  RequestIdSchema,
  type DaemonMessage,
  type ErrorCode,
  type Request,
  type RequestId,
  type RequestType,
} from './messages.js';
import { REPLY_SCHEMAS, type ResponseOf } from './replies.js';
import { PARSE_OPTIONS, formatIssues, truncate } from '../common/zod-issues.js';

export interface ParseError {
  id: RequestId | null;
  code: ErrorCode;
  message: string;
}

export type ParseFailure = { ok: false; error: ParseError };
export type RequestParseResult = { ok: true; request: Request } | ParseFailure;
export type DaemonMessageParseResult = { ok: true; message: DaemonMessage } | ParseFailure;
export type ReplyParseResult<T extends RequestType> = { ok: true; reply: ResponseOf<T> } | ParseFailure;

/** Error messages quote parts of the input; bound them so a reply stays small. */
const MAX_QUOTE = 80;

/** Parse one line from a client (without its trailing newline). */
export function parseRequest(line: string): RequestParseResult {
  const result = parseLine(line, REQUEST_SCHEMAS);
  return result.ok ? { ok: true, request: result.value as Request } : result;
}

/** Parse one line from the daemon (without its trailing newline). */
export function parseDaemonMessage(line: string): DaemonMessageParseResult {
  const result = parseLine(line, DAEMON_MESSAGE_SCHEMAS);
  return result.ok ? { ok: true, message: result.value as DaemonMessage } : result;
}

/**
 * Checks the payload of an ACK (WELCOME for HELLO) against what a request of `type` is answered
 * with (replies.ts); `id` is the request's, kept in the error.
 */
export function parseReply<T extends RequestType>(
  type: T,
  payload: unknown,
  id: RequestId | null = null,
): ReplyParseResult<T> {
  try {
    const schema: z.ZodType = REPLY_SCHEMAS[type];
    const parsed = schema.safeParse(payload, PARSE_OPTIONS);
    if (!parsed.success) return failure(id, 'BAD_MESSAGE', formatIssues(`${type} reply`, parsed.error.issues));
    // The schema of T made it: its output type is ResponseOf<T>.
    return { ok: true, reply: parsed.data as ResponseOf<T> };
  } catch (error) {
    return failure(
      id,
      'INTERNAL',
      `could not check the ${type} reply: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

type SchemaMap = Readonly<Record<string, z.ZodType>>;

function parseLine(line: string, schemas: SchemaMap): { ok: true; value: unknown } | ParseFailure {
  let id: RequestId | null = null;
  try {
    const json = parseJson(line);
    if (!json.ok) return failure(null, 'BAD_JSON', json.message);
    const value = json.value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return failure(
        null,
        'BAD_MESSAGE',
        `expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
      );
    }
    const record = value as Record<string, unknown>;
    id = recoverId(record);
    const type = record.type;
    if (typeof type !== 'string') {
      return failure(
        id,
        'BAD_MESSAGE',
        type === undefined ? 'type: required (expected string)' : `type: expected string, got ${typeof type}`,
      );
    }
    if (!Object.hasOwn(schemas, type)) return failure(id, 'UNKNOWN_TYPE', `unknown message type ${quote(type)}`);
    const parsed = schemas[type]!.safeParse(record, PARSE_OPTIONS);
    if (!parsed.success) return failure(id, 'BAD_MESSAGE', formatIssues(type, parsed.error.issues));
    return { ok: true, value: parsed.data };
  } catch (error) {
    // Not expected (the steps above do not throw), but a parser bug must not take the daemon down.
    return failure(
      id,
      'INTERNAL',
      `could not parse the message: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function parseJson(line: string): { ok: true; value: unknown } | { ok: false; message: string } {
  if (line.trim() === '') return { ok: false, message: 'empty line (expected a JSON object)' };
  try {
    return { ok: true, value: JSON.parse(line) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, message: `not valid JSON: ${truncate(reason, 2 * MAX_QUOTE)}` };
  }
}

/** The request id, when the message has a valid one, even if the rest is invalid. */
function recoverId(record: Record<string, unknown>): RequestId | null {
  const parsed = RequestIdSchema.safeParse(record.id);
  return parsed.success ? parsed.data : null;
}

function failure(id: RequestId | null, code: ErrorCode, message: string): ParseFailure {
  return { ok: false, error: { id, code, message } };
}

function quote(text: string): string {
  return JSON.stringify(truncate(text, MAX_QUOTE));
}
