/**
 * Before the suite: the cluster tests need Debian's redis-server. Where it is missing and we are root
 * with apt-get (CI, a fresh machine of this project's kind), it is installed here, so `npm ci && npm
 * test` still does everything; elsewhere the suite stops at once with one line saying how to get it.
 * Never a silently skipped test.
 */
import { spawnSync } from 'node:child_process';
import { REDIS_MISSING, redisServerPath } from '../bench/lib/redis-server.js';

export default function setup(): void {
  if (redisServerPath()) return;
  const root = process.getuid?.() === 0;
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0;
  if (!root || !apt) throw new Error(REDIS_MISSING);
  process.stderr.write('redis-server is missing: installing it with apt-get (the cluster tests need it)...\n');
  const install = () =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-q', 'redis-server'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  // A fresh machine may have no package lists yet: update once and try again.
  if (install().status !== 0) {
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update', '-q'], { stdio: 'inherit' });
    if (install().status !== 0) throw new Error(`apt-get could not install redis-server; ${REDIS_MISSING}`);
  }
  if (!redisServerPath()) throw new Error(`apt-get ran but redis-server is still not on PATH; ${REDIS_MISSING}`);
}
