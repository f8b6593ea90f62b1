/**
 * Before the suite: the cluster tests need Debian's redis-server, and the partition test iproute2's
 * `ip`. Where one is missing and we are root with apt-get (CI, a fresh machine of this project's
 * kind), it is installed here, so `npm ci && npm test` still does everything; elsewhere the suite
 * stops at once with one line saying how to get it. Never a silently skipped test.
 */
import { spawnSync } from 'node:child_process';
import { REDIS_MISSING, redisServerPath } from '../bench/lib/redis-server.js';

const onPath = (program: string) => spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;

/** Installs a Debian package with apt-get, or throws `missing` saying what to do. */
function ensurePackage(name: string, present: () => boolean, missing: string): void {
  if (present()) return;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) throw new Error(missing);
  process.stderr.write(`${name} is missing: installing it with apt-get (the cluster tests need it)...\n`);
  const install = () =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-q', name], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  // A fresh machine may have no package lists yet: update once and try again.
  if (install().status !== 0) {
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update', '-q'], { stdio: 'inherit' });
    if (install().status !== 0) throw new Error(`apt-get could not install ${name}; ${missing}`);
  }
  if (!present()) throw new Error(`apt-get installed ${name}, but it is still missing; ${missing}`);
}

export default function setup(): void {
  ensurePackage('redis-server', () => redisServerPath() !== undefined, REDIS_MISSING);
  ensurePackage(
    'iproute2',
    () => onPath('ip') && onPath('nsenter'),
    'the cluster partition test needs root, `ip` (Debian: apt-get install iproute2) and `nsenter` (util-linux)',
  );
}
