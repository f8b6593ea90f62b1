import { describe, expect, it } from 'vitest';
import { parseDaemonMessage, parseRequest, type ParseError } from '../../src/protocol/index.js';

function error(line: string): ParseError {
  const result = parseRequest(line);
  if (result.ok) throw new Error(`expected a parse error for ${line}`);
  return result.error;
}

describe('parseRequest errors', () => {
  it.each([
    ['{"type":"LIST",', 'not valid JSON'],
    ['', 'empty line'],
    ['   ', 'empty line'],
    ['nul', 'not valid JSON'],
  ])('BAD_JSON for %j', (line, message) => {
    expect(error(line)).toMatchObject({ id: null, code: 'BAD_JSON' });
    expect(error(line).message).toContain(message);
  });

  it.each([
    ['[1,2]', 'expected a JSON object, got an array'],
    ['42', 'expected a JSON object, got number'],
    ['null', 'expected a JSON object, got null'],
    ['"LIST"', 'expected a JSON object, got string'],
  ])('BAD_MESSAGE for non-object %s', (line, message) => {
    expect(error(line)).toEqual({ id: null, code: 'BAD_MESSAGE', message });
  });

  it('UNKNOWN_TYPE keeps the request id', () => {
    expect(error('{"type":"FROB","id":17}')).toEqual({
      id: 17,
      code: 'UNKNOWN_TYPE',
      message: 'unknown message type "FROB"',
    });
  });

  it('does not treat inherited properties as message types', () => {
    expect(error('{"type":"constructor","id":1}')).toMatchObject({ code: 'UNKNOWN_TYPE' });
    expect(error('{"type":"__proto__","id":1}')).toMatchObject({ code: 'UNKNOWN_TYPE' });
  });

  it('a daemon message type is unknown as a request (and vice versa)', () => {
    expect(error('{"type":"ACK","id":1}')).toMatchObject({ code: 'UNKNOWN_TYPE' });
    const reverse = parseDaemonMessage('{"type":"LIST","id":1}');
    expect(reverse).toMatchObject({ ok: false, error: { id: 1, code: 'UNKNOWN_TYPE' } });
  });

  it('missing or wrongly typed type', () => {
    expect(error('{"id":"x"}')).toEqual({ id: 'x', code: 'BAD_MESSAGE', message: 'type: required (expected string)' });
    expect(error('{"id":"x","type":5}')).toEqual({
      id: 'x',
      code: 'BAD_MESSAGE',
      message: 'type: expected string, got number',
    });
  });

  it('names the path of a wrongly typed field', () => {
    const e = error(JSON.stringify({ type: 'TASK_REQUEST', id: 'r1', spec: { module: 5 } }));
    expect(e).toEqual({
      id: 'r1',
      code: 'BAD_MESSAGE',
      message: 'TASK_REQUEST.spec.module: expected string, got number',
    });
  });

  it('names array indexes and record keys', () => {
    const args = error(JSON.stringify({ type: 'TASK_REQUEST', id: 1, spec: { command: 'ls', args: ['-l', 2] } }));
    expect(args.message).toBe('TASK_REQUEST.spec.args[1]: expected string, got number');
    const env = error(JSON.stringify({ type: 'TASK_REQUEST', id: 1, spec: { command: 'ls', env: { A: 1 } } }));
    expect(env.message).toBe('TASK_REQUEST.spec.env.A: expected string, got number');
  });

  it('reports missing fields', () => {
    expect(error('{"type":"TASK_CANCEL","id":1}').message).toBe('TASK_CANCEL.taskId: required (expected string)');
    expect(error('{"type":"TASK_REQUEST","id":1}').message).toMatch(/^TASK_REQUEST\.spec: required/);
    expect(error('{"type":"HELLO","id":1,"client":"x"}').message).toBe('HELLO.version: required (expected number)');
  });

  it('explains a spec with neither or both of module and command', () => {
    const exactlyOne =
      'TASK_REQUEST.spec: needs exactly one of "module" (a Node task module path) or "command" (a program to run)';
    expect(error('{"type":"TASK_REQUEST","id":1,"spec":{}}').message).toBe(exactlyOne);
    expect(error('{"type":"TASK_REQUEST","id":1,"spec":{"module":"a","command":"b"}}').message).toBe(exactlyOne);
    expect(error('{"type":"TASK_REQUEST","id":1,"spec":{"command":"b","input":1}}').message).toMatch(
      /^TASK_REQUEST\.spec\.input: goes with "module"/,
    );
    expect(error('{"type":"TASK_REQUEST","id":1,"spec":[]}').message).toContain('got array');
  });

  it('checks numeric ranges', () => {
    expect(error('{"type":"HISTORY","id":1,"limit":0}').message).toMatch(/^HISTORY\.limit: /);
    expect(error('{"type":"HISTORY","id":1,"limit":1.5}').message).toMatch(/^HISTORY\.limit: /);
    expect(error('{"type":"LOGS","id":1,"taskId":"1","tailBytes":-1}').message).toMatch(/^LOGS\.tailBytes: /);
  });

  it('rejects task ids that are not short safe names', () => {
    expect(error('{"type":"GET","id":1,"taskId":"../etc"}').message).toMatch(/^GET\.taskId: expected a task id/);
    expect(error('{"type":"GET","id":1,"taskId":3}').message).toBe('GET.taskId: expected string, got number');
  });

  it('an invalid id gives a null id in the error and names the field', () => {
    expect(error('{"type":"LIST","id":{"a":1}}')).toMatchObject({ id: null, code: 'BAD_MESSAGE' });
    expect(error('{"type":"LIST","id":{"a":1}}').message).toMatch(/^LIST\.id: /);
    expect(error('{"type":"LIST","id":1.5}')).toEqual({
      id: null,
      code: 'BAD_MESSAGE',
      message: 'LIST.id: expected a string of 1-128 characters or an integer',
    });
    expect(error('{"type":"LIST"}').message).toBe('LIST.id: required (expected a string or an integer)');
  });

  it('recovers the id when other fields are invalid', () => {
    expect(error('{"type":"LOGS","id":"abc","taskId":null}').id).toBe('abc');
  });

  it('caps the number of issues shown', () => {
    const e = error(JSON.stringify({ type: 'TASK_REQUEST', id: 1, spec: { command: 1, args: [1, 2, 3, 4, 5] } }));
    expect(e.message.split('; ')).toHaveLength(3);
    expect(e.message).toMatch(/\(\+3 more\)$/);
  });

  it('bounds quoted input in messages', () => {
    const e = error(JSON.stringify({ type: 'X'.repeat(10_000), id: 1 }));
    expect(e.message.length).toBeLessThan(200);
  });
});
