/** Bad cluster arguments get one line naming the cause and what to do, with exit code 2; an unreachable Redis, exit 1. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from './helpers.js';

const home = mkdtempSync('/tmp/twce-');
afterAll(() => rmSync(home, { recursive: true, force: true }));

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, '--home', home, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, TASKWARDEN_CLUSTER: '', ...env },
  });
}

describe('cluster arguments', () => {
  it('a URL that is not a Redis address', () => {
    const result = cli(['--cluster', 'http://10.0.0.5:6379', 'ls']);
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe(
      'taskwarden: "http://10.0.0.5:6379" is not a Redis address (unknown scheme http:): give redis://HOST:PORT, rediss://HOST:PORT for TLS, or unix:///path/to/redis.sock',
    );
  });

  it('a queue name that cannot be one', () => {
    const result = cli(['--cluster', 'redis://127.0.0.1:1', '--queue', 'a:b', 'ls']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('queue name "a:b" must be 1-64 of A-Z a-z 0-9 _ . -');
  });

  it('a Redis nobody answers on: exit 1, saying where it looked', () => {
    const result = cli(['ls'], { TASKWARDEN_CLUSTER: `unix://${home}/no-redis.sock` });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`cannot reach the cluster's Redis at unix://${home}/no-redis.sock within 5000 ms`);
  });

  it('an agent without a Redis', () => {
    const result = cli(['agent']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("agent: give the cluster's Redis with --redis redis://HOST:PORT");
  });

  it('the terminal UI with a URL that is not a Redis address: exit 2 before it takes the screen', () => {
    const result = cli(['--cluster', 'http://10.0.0.5:6379']);
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe(
      'taskwarden: "http://10.0.0.5:6379" is not a Redis address (unknown scheme http:): give redis://HOST:PORT, rediss://HOST:PORT for TLS, or unix:///path/to/redis.sock',
    );
  });
});
