import { describe, expect, it } from 'vitest';
import {
  DAEMON_MESSAGE_SCHEMAS,
  LineDecoder,
  PROTOCOL_VERSION,
  REQUEST_SCHEMAS,
  ack,
  encodeMessage,
  errorReply,
  parseDaemonMessage,
  parseRequest,
} from '../../src/protocol/index.js';
import { DAEMON_SAMPLES, REQUEST_SAMPLES, runningTask } from './samples.js';

/** Encode, frame, decode, parse: what a peer on the other end of the socket sees. */
function overTheWire(message: object): string {
  const decoder = new LineDecoder();
  const items = decoder.push(Buffer.from(encodeMessage(message)));
  expect(items).toHaveLength(1);
  const item = items[0];
  if (item.kind !== 'line') throw new Error('expected a line');
  return item.line;
}

describe('protocol messages', () => {
  it('has protocol version 1', () => {
    expect(PROTOCOL_VERSION).toBe(1);
  });

  it('has a sample for every message type', () => {
    expect(Object.keys(REQUEST_SAMPLES).sort()).toEqual(Object.keys(REQUEST_SCHEMAS).sort());
    expect(Object.keys(DAEMON_SAMPLES).sort()).toEqual(Object.keys(DAEMON_MESSAGE_SCHEMAS).sort());
  });

  it.each(Object.values(REQUEST_SAMPLES))('request $type round-trips', (sample) => {
    expect(parseRequest(overTheWire(sample))).toEqual({ ok: true, request: sample });
  });

  it.each(Object.values(DAEMON_SAMPLES))('daemon message $type round-trips', (sample) => {
    expect(parseDaemonMessage(overTheWire(sample))).toEqual({ ok: true, message: sample });
  });

  it('accepts a command spec and a module spec, and minimal requests', () => {
    const command = { type: 'TASK_REQUEST', id: 1, spec: { command: 'ls', args: ['-l'] } };
    expect(parseRequest(JSON.stringify(command))).toEqual({ ok: true, request: command });
    const list = { type: 'LIST', id: 0 };
    expect(parseRequest(JSON.stringify(list))).toEqual({ ok: true, request: list });
  });

  it('strips unknown keys on a message but rejects them in a spec', () => {
    const extra = parseRequest(JSON.stringify({ type: 'GET', id: 1, taskId: '3', future: true }));
    expect(extra).toEqual({ ok: true, request: { type: 'GET', id: 1, taskId: '3' } });
    const typo = parseRequest(JSON.stringify({ type: 'TASK_REQUEST', id: 1, spec: { command: 'ls', arg: ['-l'] } }));
    expect(typo).toMatchObject({ ok: false, error: { id: 1, code: 'BAD_MESSAGE' } });
    expect(typo.ok || typo.error.message).toMatch(/^TASK_REQUEST\.spec: unknown key "arg"; a spec has /);
  });

  it('ack() keeps the request id and type over payload keys', () => {
    expect(ack(5, { task: runningTask, type: 'X', id: 9 })).toEqual({ type: 'ACK', id: 5, task: runningTask });
    expect(parseDaemonMessage(encodeMessage(ack('a', { tasks: [] })).trimEnd())).toEqual({
      ok: true,
      message: { type: 'ACK', id: 'a', tasks: [] },
    });
  });

  it('errorReply() builds a valid ERROR', () => {
    const reply = errorReply(null, 'LINE_TOO_LONG', 'line over 1048576 bytes');
    expect(parseDaemonMessage(JSON.stringify(reply))).toEqual({ ok: true, message: reply });
  });

  it('WELCOME may carry the daemon health (an older daemon sends none); JOURNAL_UNWRITABLE is an error code', () => {
    const health = DAEMON_SAMPLES.DAEMON_HEALTH.health;
    const welcome = { ...DAEMON_SAMPLES.WELCOME, health };
    expect(parseDaemonMessage(overTheWire(welcome))).toEqual({ ok: true, message: welcome });
    expect(parseDaemonMessage(overTheWire(DAEMON_SAMPLES.WELCOME))).toEqual({
      ok: true,
      message: DAEMON_SAMPLES.WELCOME,
    });
    const refused = errorReply(3, 'JOURNAL_UNWRITABLE', 'the journal cannot be written');
    expect(parseDaemonMessage(JSON.stringify(refused))).toEqual({ ok: true, message: refused });
  });

  it('TASK_COMPLETE requires a terminal task', () => {
    const result = parseDaemonMessage(JSON.stringify({ type: 'TASK_COMPLETE', task: runningTask }));
    expect(result).toMatchObject({ ok: false, error: { code: 'BAD_MESSAGE' } });
    expect(result.ok || result.error.message).toContain('TASK_COMPLETE.task.state');
  });
});
