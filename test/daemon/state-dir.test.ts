/**
 * State directory safety: a state directory another user
 * created or can write, and symlinks planted in it, must never make the daemon
 * or a client touch anything outside it.
 *
 * Tests run as root: a real second user is created with useradd (removed with
 * userdel afterwards), plants things as itself (child processes with its uid),
 * and the targets of every attack are compared before and after.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/daemon/client.js';
import { resolveHome } from '../../src/daemon/home.js';
import { startDaemon, type DaemonHandle } from '../../src/daemon/server.js';
import { Journal } from '../../src/journal/index.js';
import { readProcStat } from '../../src/process/proc.js';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { isAlive, waitFor } from '../helpers.js';
import { CLI, RawClient, tempHome } from './helpers.js';

const IS_ROOT = process.geteuid?.() === 0;
const user = { name: `twatk${process.pid}${randomBytes(2).toString('hex')}`, uid: -1, gid: -1 };

beforeAll(() => {
  if (!IS_ROOT) return;
  const added = spawnSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', user.name], {
    encoding: 'utf8',
  });
  if (added.status !== 0) throw new Error(`useradd ${user.name} failed: ${added.stderr}`);
  user.uid = Number(spawnSync('id', ['-u', user.name], { encoding: 'utf8' }).stdout.trim());
  user.gid = Number(spawnSync('id', ['-g', user.name], { encoding: 'utf8' }).stdout.trim());
});

afterAll(() => {
  if (IS_ROOT && user.uid >= 0) spawnSync('userdel', [user.name]);
});

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Runs a shell script as the second user; throws with its stderr when it fails. */
function asUser(script: string): void {
  const result = spawnSync('/bin/sh', ['-c', script], {
    uid: user.uid,
    gid: user.gid,
    cwd: '/tmp',
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin' },
  });
  if (result.status !== 0) throw new Error(`as ${user.name}: ${script}: ${result.stderr}`);
}

/** A directory the second user created under /tmp (a predictable name in real life), mode 0755. */
function userDir(): string {
  const dir = `/tmp/twd-atk-${randomBytes(4).toString('hex')}`;
  asUser(`mkdir -m 755 ${dir}`);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A root-owned directory holding the targets of an attack. */
function victimDir(): string {
  const h = tempHome();
  cleanups.push(h.cleanup);
  return h.home;
}

/** Mode, owner and content of a file, to compare before and after. */
function fingerprint(path: string): { mode: number; uid: number; content: string } {
  const stat = lstatSync(path);
  return {
    mode: stat.mode & 0o7777,
    uid: stat.uid,
    content: stat.isDirectory() ? readdirSync(path).join(',') : readFileSync(path, 'utf8'),
  };
}

/** Starts a daemon in this process; if it did start (the defect), it is closed after the test. */
async function tryStart(home: string, logs?: string[]): Promise<unknown> {
  try {
    const d = await startDaemon({ home, log: (m) => logs?.push(m) });
    cleanups.push(() => d.close());
    return d;
  } catch (error) {
    return error;
  }
}

function cli(home: string, args: string[], timeout = 30_000) {
  return spawnSync(process.execPath, [CLI, '--home', home, ...args], { encoding: 'utf8', timeout });
}

/** If a background daemon did start on home (the defect), stop it. */
function shutdownAfter(home: string): void {
  cleanups.push(() => {
    if (existsSync(join(home, 'daemon.sock'))) cli(home, ['shutdown'], 15_000);
  });
}

describe.runIf(IS_ROOT)('a state directory another user controls is refused, and nothing outside is touched', () => {
  it('a planted logs symlink: the target directory keeps its mode and gets no files', async () => {
    const home = userDir();
    const target = join(victimDir(), 'precious');
    mkdirSync(target, { mode: 0o755 });
    chmodSync(target, 0o755);
    asUser(`ln -s ${target} ${home}/logs`);
    const before = fingerprint(target);
    const error = await tryStart(home);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      `taskwarden refuses the state directory ${home}: it is owned by uid ${user.uid}, not by you (uid 0), so its owner can plant files in it; ` +
        'use a directory that you own and that only you can write to (--home DIR or TASKWARDEN_HOME)',
    );
    expect(fingerprint(target)).toEqual(before);
    expect(statSync(home).mode & 0o7777).toBe(0o755); // never chmodded
  });

  it('a planted daemon.log symlink: the file it points to is not appended to', async () => {
    const home = userDir();
    const target = join(victimDir(), 'victim.txt');
    writeFileSync(target, 'original\n', { mode: 0o644 });
    asUser(`ln -s ${target} ${home}/daemon.log`);
    const before = fingerprint(target);
    shutdownAfter(home);
    const result = cli(home, ['daemon']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`taskwarden refuses the state directory ${home}: it is owned by uid ${user.uid}`);
    expect(fingerprint(target)).toEqual(before);
  });

  it('planted daemon.pid.<pid>.tmp symlinks: the file they point to is not truncated or rewritten', async () => {
    const home = userDir();
    const target = join(victimDir(), 'victim.txt');
    writeFileSync(target, 'original\n', { mode: 0o644 });
    asUser(`ln -s ${target} ${home}/daemon.pid.${process.pid}.tmp`);
    const before = fingerprint(target);
    expect(await tryStart(home)).toBeInstanceOf(Error);
    expect(fingerprint(target)).toEqual(before);
  });

  it('a planted journal.db symlink: a setuid file keeps mode 4755', async () => {
    const home = userDir();
    const target = join(victimDir(), 'setuid-program');
    writeFileSync(target, '#!/bin/sh\n');
    chmodSync(target, 0o4755);
    asUser(`ln -s ${target} ${home}/journal.db`);
    const before = fingerprint(target);
    expect(await tryStart(home)).toBeInstanceOf(Error);
    expect(fingerprint(target)).toEqual(before);
    expect(statSync(target).mode & 0o7777).toBe(0o4755);
  });

  it('an impostor socket gets no TASK_REQUEST, and no fake id is printed', async () => {
    const home = userDir();
    const got = join(home, 'got.ndjson');
    // The second user's fake daemon: answers HELLO and TASK_REQUEST, records what it was sent.
    const impostor = `
      const net = require('node:net'); const fs = require('node:fs');
      net.createServer((s) => { let buf = '';
        s.on('data', (c) => { buf += c; let i;
          while ((i = buf.indexOf('\\n')) >= 0) { const line = buf.slice(0, i); buf = buf.slice(i + 1); fs.appendFileSync(${JSON.stringify(got)}, line + '\\n');
            const m = JSON.parse(line);
            if (m.type === 'HELLO') s.write(JSON.stringify({ type: 'WELCOME', id: m.id, version: ${PROTOCOL_VERSION}, daemonPid: 4242, home: ${JSON.stringify(home)} }) + '\\n');
            else if (m.type === 'TASK_REQUEST') s.write(JSON.stringify({ type: 'ACK', id: m.id, task: { id: '666', name: 'x', kind: 'command', spec: m.spec, state: 'queued', attempt: 0, createdAt: Date.now() } }) + '\\n');
          } });
      }).listen(${JSON.stringify(join(home, 'daemon.sock'))});`;
    const fake: ChildProcess = spawn(process.execPath, ['-e', impostor], {
      uid: user.uid,
      gid: user.gid,
      cwd: '/tmp',
      stdio: 'ignore',
    });
    cleanups.push(() => void fake.kill('SIGKILL'));
    await waitFor(() => existsSync(join(home, 'daemon.sock')), 15_000, 'the impostor to listen');
    const result = cli(home, ['run', '--', '/bin/echo', 'secret-argument']);
    expect(result.stdout).not.toContain('666');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`taskwarden refuses the state directory ${home}: it is owned by uid ${user.uid}`);
    expect(existsSync(got) ? readFileSync(got, 'utf8') : '').not.toContain('secret-argument');
  });

  it("a planted journal cannot make recovery SIGKILL a process group of the other user's choosing", async () => {
    const victim = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
    cleanups.push(() => void victim.kill('SIGKILL'));
    await waitFor(() => readProcStat(victim.pid!), 5000, 'the victim to start');
    // A journal saying task 1 runs as the victim's group leader (pid and start time match).
    const forge = victimDir();
    const journal = Journal.open(forge);
    const spec = { command: 'sleep', args: ['1000'] };
    const task = {
      id: '1',
      name: 'forged',
      kind: 'command' as const,
      spec,
      state: 'queued' as const,
      attempt: 1,
      createdAt: Date.now(),
    };
    journal.recordTask(task);
    journal.recordTransition({ ...task, state: 'starting' }, 'queued');
    journal.recordSpawn('1', 1, victim.pid!, readProcStat(victim.pid!)!.startTime);
    journal.recordTransition({ ...task, state: 'running', pid: victim.pid!, startedAt: Date.now() }, 'starting');
    journal.close();
    const home = userDir();
    copyFileSync(join(forge, 'journal.db'), join(home, 'journal.db'));
    chownSync(join(home, 'journal.db'), user.uid, user.gid);
    const error = await tryStart(home);
    expect(error).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 200));
    expect(isAlive(victim.pid!)).toBe(true);
  });

  it('a shared 1777 directory is refused and keeps its mode (no one is locked out)', async () => {
    const shared = join(victimDir(), 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const error = await tryStart(shared);
    expect((error as Error).message).toBe(
      `taskwarden refuses the state directory ${shared}: it is writable by others (mode 1777), who could plant files in it; ` +
        'use a directory that you own and that only you can write to (--home DIR or TASKWARDEN_HOME)',
    );
    expect(statSync(shared).mode & 0o7777).toBe(0o1777);
    const result = cli(shared, ['ls']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      `taskwarden refuses the state directory ${shared}: it is writable by others (mode 1777)`,
    );
    expect(statSync(shared).mode & 0o7777).toBe(0o1777);
  });

  it("a state directory to be created inside another user's directory is refused, and not created", async () => {
    const parent = userDir();
    const home = join(parent, 'state');
    const error = await tryStart(home);
    expect((error as Error).message).toBe(
      `taskwarden refuses the state directory ${home}: its parent ${parent} is owned by uid ${user.uid}, who could replace what is in it; ` +
        'use a directory that you own and that only you can write to (--home DIR or TASKWARDEN_HOME)',
    );
    expect(existsSync(home)).toBe(false);
  });

  it('a symlink planted by another user as the state directory is refused', async () => {
    const own = victimDir();
    const link = `/tmp/twd-link-${randomBytes(4).toString('hex')}`;
    asUser(`ln -s ${own} ${link}`);
    cleanups.push(() => rmSync(link, { force: true }));
    expect(() => resolveHome({ home: link })).toThrow(
      `taskwarden refuses the state directory ${link}: ${link} is a symlink owned by uid ${user.uid}`,
    );
  });

  it('a group-writable own directory is refused with what to do, and keeps its mode', () => {
    const dir = join(victimDir(), 'grp');
    mkdirSync(dir);
    chmodSync(dir, 0o770);
    expect(() => resolveHome({ home: dir })).toThrow(
      `taskwarden refuses the state directory ${dir}: it is writable by its group (mode 0770)`,
    );
    expect(statSync(dir).mode & 0o7777).toBe(0o770);
  });

  it("a socket owned by another user is not connected to, even in one's own directory", async () => {
    const h = tempHome();
    cleanups.push(h.cleanup);
    const path = join(h.home, 'daemon.sock');
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    lchownSync(path, user.uid, user.gid);
    await expect(DaemonClient.connect({ home: h.home, autostart: false, connectTimeoutMs: 2000 })).rejects.toThrow(
      `refusing to connect to ${path}: the socket is owned by uid ${user.uid}, not by you (uid 0)`,
    );
    expect(connections).toBe(0);
  });
});

describe('symlinks inside an own state directory are never followed', () => {
  function ownHome(): string {
    const h = tempHome();
    cleanups.push(h.cleanup);
    return h.home;
  }

  function victimFile(): string {
    const path = join(victimDir(), 'victim.txt');
    writeFileSync(path, 'original\n', { mode: 0o644 });
    chmodSync(path, 0o644);
    return path;
  }

  it('logs symlink to a directory: refused; the directory keeps its mode', async () => {
    const home = ownHome();
    const target = join(victimDir(), 'dir');
    mkdirSync(target, { mode: 0o755 });
    chmodSync(target, 0o755);
    symlinkSync(target, join(home, 'logs'));
    const before = fingerprint(target);
    const error = await tryStart(home);
    expect((error as Error).message).toContain(`taskwarden refuses ${join(home, 'logs')}: it is a symlink`);
    expect(fingerprint(target)).toEqual(before);
  });

  it('journal.db and journal.db-wal symlinks: refused; the targets keep mode and content', async () => {
    for (const name of ['journal.db', 'journal.db-wal']) {
      const home = ownHome();
      const target = victimFile();
      symlinkSync(target, join(home, name));
      const before = fingerprint(target);
      const error = await tryStart(home);
      expect((error as Error).message).toContain(`taskwarden refuses ${join(home, name)}: it is a symlink`);
      expect(fingerprint(target)).toEqual(before);
    }
  });

  it('daemon.log symlink: the background start is refused; the target is not appended to', () => {
    const home = ownHome();
    const target = victimFile();
    symlinkSync(target, join(home, 'daemon.log'));
    const before = fingerprint(target);
    shutdownAfter(home);
    const result = cli(home, ['daemon']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`taskwarden refuses ${join(home, 'daemon.log')}: it is a symlink`);
    expect(fingerprint(target)).toEqual(before);
  });

  it('daemon.pid.<pid>.tmp symlink: the planted link is removed, its target untouched, the daemon starts', async () => {
    const home = ownHome();
    const target = victimFile();
    symlinkSync(target, join(home, `daemon.pid.${process.pid}.tmp`));
    const before = fingerprint(target);
    const d = await tryStart(home);
    expect(d).not.toBeInstanceOf(Error);
    expect(fingerprint(target)).toEqual(before);
    expect(JSON.parse(readFileSync(join(home, 'daemon.pid'), 'utf8')).pid).toBe(process.pid);
  });

  it("a task log path that is a symlink: the task's output goes to a fresh file, the target is untouched", async () => {
    const home = ownHome();
    const target = victimFile();
    const before = fingerprint(target);
    const d = (await tryStart(home)) as DaemonHandle;
    const c = await RawClient.open(d.socketPath);
    cleanups.push(() => c.close());
    const done = (id: string, attempt: number) =>
      waitFor(
        async () => {
          const task = (await c.request({ type: 'GET', taskId: id })).task;
          return task.attempt === attempt && task.state === 'completed';
        },
        20_000,
        `task ${id} attempt ${attempt} to complete`,
      );
    const id = (await c.request({ type: 'TASK_REQUEST', spec: { command: 'sh', args: ['-c', 'echo fresh output'] } }))
      .task.id;
    await done(id, 1);
    // Where attempt 2 will write: a symlink to a file outside.
    const path = join(home, 'logs', `${id}.2.log`);
    symlinkSync(target, path);
    expect((await c.request({ type: 'TASK_RESTART', taskId: id })).type).toBe('ACK');
    await done(id, 2);
    const logs = await c.request({ type: 'LOGS', taskId: id, attempt: 2 });
    expect(logs.lines).toEqual([{ stream: 'stdout', line: 'fresh output' }]);
    expect(fingerprint(target)).toEqual(before);
    const own = lstatSync(path);
    expect(own.isFile()).toBe(true);
    expect(own.mode & 0o777).toBe(0o600);
    const aside = readdirSync(join(home, 'logs')).filter((name) => name.startsWith(`${id}.2.log.orphaned-`));
    expect(aside).toHaveLength(1);
    expect(lstatSync(join(home, 'logs', aside[0])).isSymbolicLink()).toBe(true);
  });
});

describe('what still works', () => {
  it('a fresh state directory (and its missing parents) is created 0700', async () => {
    const h = tempHome();
    cleanups.push(h.cleanup);
    const home = join(h.home, 'a', 'b');
    const d = (await tryStart(home)) as DaemonHandle;
    expect(d).not.toBeInstanceOf(Error);
    expect(statSync(join(h.home, 'a')).mode & 0o7777).toBe(0o700);
    expect(statSync(home).mode & 0o7777).toBe(0o700);
    expect(statSync(join(home, 'logs')).mode & 0o7777).toBe(0o700);
  });

  it('an own 0700 directory and an own 0755 one are used as they are (the mode is never changed)', async () => {
    for (const mode of [0o700, 0o755]) {
      const h = tempHome();
      cleanups.push(h.cleanup);
      chmodSync(h.home, mode);
      const d = (await tryStart(h.home)) as DaemonHandle;
      expect(d).not.toBeInstanceOf(Error);
      expect(statSync(h.home).mode & 0o7777).toBe(mode);
      expect(statSync(d.socketPath).mode & 0o777).toBe(0o600);
      await d.close();
    }
  });

  it('a state directory reached through an own symlink works', async () => {
    const h = tempHome();
    cleanups.push(h.cleanup);
    mkdirSync(join(h.home, 'real'), { mode: 0o700 });
    symlinkSync(join(h.home, 'real'), join(h.home, 'link'));
    expect(resolveHome({ home: join(h.home, 'link') })).toBe(join(h.home, 'link'));
  });
});
