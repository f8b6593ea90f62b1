// Run by `npm test` before the suite: the browser tests (test/web) drive Debian's Chromium, so it is
// installed here when missing (as root, with apt-get), or the run stops with one line saying how.
// TASKWARDEN_CHROMIUM=/path/to/chromium names another build (then nothing is installed).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// The real binary: Debian's /usr/bin/chromium wrapper script misbehaves when driven headless.
const DEBIAN_CHROMIUM = '/usr/lib/chromium/chromium';
const wanted = process.env.TASKWARDEN_CHROMIUM || DEBIAN_CHROMIUM;
const fail = (line) => {
  process.stderr.write(`ensure-chromium: ${line}\n`);
  process.exit(1);
};

if (existsSync(wanted)) process.exit(0);
if (process.env.TASKWARDEN_CHROMIUM)
  fail(
    `TASKWARDEN_CHROMIUM names ${wanted}, which does not exist: point it at a Chromium binary, or unset it to use Debian's ${DEBIAN_CHROMIUM}`,
  );
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (!hasApt)
  fail(
    `the browser tests need Chromium and this is not a Debian-like system: install Chromium and set TASKWARDEN_CHROMIUM=/path/to/chromium`,
  );
if (process.getuid?.() !== 0)
  fail(
    `the browser tests need Debian's chromium package: run "sudo apt-get install chromium" once (or set TASKWARDEN_CHROMIUM=/path/to/chromium)`,
  );

process.stderr.write(
  "ensure-chromium: installing Debian's chromium for the browser tests (apt-get install chromium, about a minute)...\n",
);
const apt = (...args) =>
  spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
apt('update');
const install = apt('install', '-y', 'chromium');
if (install.status !== 0 || !existsSync(DEBIAN_CHROMIUM))
  fail(
    `"apt-get install chromium" failed (exit ${install.status}); install it by hand, or set TASKWARDEN_CHROMIUM=/path/to/chromium`,
  );
process.stderr.write(`ensure-chromium: installed ${DEBIAN_CHROMIUM}\n`);
