/**
 * `taskwarden doctor [--json]`: is everything in order? The daemon answers, its
 * journal and task logs can be written (or since when and why not), the state
 * directory is as it should be, and the disk holding it has room.
 *
 * Starts nothing and changes nothing. Exit 0: no problem found (warnings, such
 * as no daemon running, are not problems); 1: at least one check failed.
 */
import { accessSync, constants, existsSync, statSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { DaemonClient } from '../../daemon/client.js';
import { clockTime, remedy, type DaemonHealth } from '../../daemon/health.js';
import { MAX_SOCKET_PATH_BYTES, SOCKET_FILE, homePath } from '../../daemon/home.js';
import { JOURNAL_FILE, LOGS_DIR } from '../../journal/index.js';
import { formatBytes } from '../../common/bytes.js';
import { automaticContainment } from '../../process/cgroup/support.js';
import type { ContainmentInfo } from '../../protocol/index.js';
import { CLIENT_NAME, EXIT, globals, print, printJson } from '../context.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorReport {
  home: string;
  /** No check failed. */
  healthy: boolean;
  checks: DoctorCheck[];
  /** The daemon that answered, with the health it reported (absent from an older daemon). */
  daemon?: { pid: number; health?: DaemonHealth };
  /** How task processes are held: the daemon's word, or (no daemon) what this machine allows this user. */
  containment?: ContainmentInfo | Omit<ContainmentInfo, 'priority'>;
}

/** Less free space than this is worth a warning. */
const LOW_SPACE_BYTES = 64 * 1024 * 1024;

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check the daemon, its journal and task logs, the state directory and its free space; exit 1 on a problem',
    )
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const report = await diagnose(globals(command).home);
      if (options.json) printJson(report);
      else print(formatReport(report));
      if (!report.healthy) process.exitCode = EXIT.failure;
    });
}

export async function diagnose(homeOption?: string): Promise<DoctorReport> {
  const home = homePath({ home: homeOption });
  const checks: DoctorCheck[] = [];
  const exists = existsSync(home);
  const check = (name: string, status: CheckStatus, detail: string) => checks.push({ name, status, detail });

  let daemon: DoctorReport['daemon'];
  let containment: DoctorReport['containment'];
  if (!exists) {
    check('daemon', 'warn', 'not running (the state directory does not exist yet; the first command creates both)');
  } else {
    try {
      const client = await DaemonClient.connect({
        home,
        autostart: false,
        clientName: `${CLIENT_NAME} doctor`,
        connectTimeoutMs: 5000,
      });
      client.close();
      daemon = { pid: client.welcome.daemonPid, ...(client.welcome.health ? { health: client.welcome.health } : {}) };
      containment = client.welcome.containment;
      check('daemon', 'ok', `pid ${daemon.pid} answers on ${join(home, SOCKET_FILE)}`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if ((error as { code?: unknown }).code === 'NO_DAEMON')
        check('daemon', 'warn', 'not running (the next command starts one)');
      else check('daemon', 'fail', message);
    }
  }

  checkJournal(home, daemon, check);
  checkLogs(daemon, check);
  checkStateDirectory(home, exists, check);
  checkFreeSpace(home, check);
  containment ??= localContainment();
  checkContainment(containment, daemon !== undefined, check);
  return {
    home,
    healthy: checks.every((c) => c.status !== 'fail'),
    checks,
    ...(daemon ? { daemon } : {}),
    containment,
  };
}

function localContainment(): Omit<ContainmentInfo, 'priority'> {
  const { backend, controls, limits } = automaticContainment();
  return { backend, controls: [...controls], limits: [...limits] };
}

/**
 * Which row of the README's containment table this machine is on. A warning, not a failure,
 * without cgroups: process groups still stop tasks, with the limits the README lists.
 */
function checkContainment(containment: DoctorReport['containment'] & {}, fromDaemon: boolean, check: Check): void {
  const who = fromDaemon ? 'the daemon uses' : 'a daemon started now would use';
  const detail = [
    `${who} ${containment.backend === 'cgroup' ? 'a cgroup per task' : 'process groups'}`,
    ...containment.controls,
  ];
  if ('priority' in containment) detail.push(`priority: ${containment.priority}`);
  if (containment.limits.length > 0) detail.push(`not in force: ${containment.limits.join('; ')}`);
  check('containment', containment.backend === 'cgroup' ? 'ok' : 'warn', detail.join('\n      '));
}

type Check = (name: string, status: CheckStatus, detail: string) => void;

function checkJournal(home: string, daemon: DoctorReport['daemon'], check: Check): void {
  const journal = daemon?.health?.journal;
  if (journal) {
    if (journal.writable) return check('journal', 'ok', `writable (${join(home, JOURNAL_FILE)})`);
    const since = journal.failingSince !== undefined ? ` since ${clockTime(journal.failingSince, true)}` : '';
    return check(
      'journal',
      'fail',
      `writes failing (${journal.cause ?? 'error'})${since}: ${journal.message ?? 'unknown error'}; ` +
        `${journal.held} change(s) held in memory until they can be written, new tasks refused; ${remedy(journal.cause, home)}`,
    );
  }
  if (daemon) return check('journal', 'warn', 'the daemon does not report its journal health (an older version?)');
  // No daemon: the file itself.
  const path = join(home, JOURNAL_FILE);
  if (!existsSync(path)) return check('journal', 'ok', 'none yet (the first daemon creates it)');
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    check('journal', 'ok', `${path} is readable and writable (no daemon holds it now)`);
  } catch (error) {
    check('journal', 'fail', `${path}: ${(error as Error).message}`);
  }
}

function checkLogs(daemon: DoctorReport['daemon'], check: Check): void {
  const logs = daemon?.health?.logs;
  if (!logs) return;
  if (logs.writable) return check('task logs', 'ok', 'writable');
  const since = logs.failingSince !== undefined ? ` since ${clockTime(logs.failingSince, true)}` : '';
  check(
    'task logs',
    'fail',
    `writes failing (${logs.cause ?? 'error'})${since}: ${logs.message ?? 'unknown error'}; ${logs.droppedLines} line(s) of task output dropped so far`,
  );
}

function checkStateDirectory(home: string, exists: boolean, check: Check): void {
  const socketBytes = Buffer.byteLength(join(home, SOCKET_FILE));
  if (socketBytes > MAX_SOCKET_PATH_BYTES) {
    return check(
      'state dir',
      'fail',
      `${home}: the socket path would be ${socketBytes} bytes, longer than the ${MAX_SOCKET_PATH_BYTES} a Unix socket allows; use a shorter --home`,
    );
  }
  if (!exists)
    return check('state dir', 'warn', `${home} does not exist yet (the first command creates it, mode 0700)`);
  try {
    const stat = statSync(home);
    if (!stat.isDirectory()) return check('state dir', 'fail', `${home} is not a directory: pass another --home`);
    accessSync(home, constants.R_OK | constants.W_OK | constants.X_OK);
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    if ((stat.mode & 0o077) !== 0)
      return check('state dir', 'warn', `${home} has mode ${mode}; the daemon tightens it to 0700`);
    check('state dir', 'ok', `${home} (mode ${mode})`);
  } catch (error) {
    check('state dir', 'fail', `${home}: ${(error as Error).message}`);
  }
}

function checkFreeSpace(home: string, check: Check): void {
  // Where the task logs go, else the nearest directory that exists.
  let dir = existsSync(join(home, LOGS_DIR)) ? join(home, LOGS_DIR) : home;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    const fs = statfsSync(dir);
    const free = fs.bavail * fs.bsize;
    const total = fs.blocks * fs.bsize;
    const detail = `${formatBytes(free)} free of ${formatBytes(total)} (${dir})`;
    if (free === 0)
      return check('free space', 'fail', `${detail}: journal writes and task logs fail; free space there`);
    if (fs.files > 0 && fs.ffree === 0)
      return check('free space', 'fail', `${detail}, but no free inodes: no file can be created there`);
    if (free < LOW_SPACE_BYTES)
      return check('free space', 'warn', `${detail}: little room for the journal and task logs`);
    check('free space', 'ok', detail);
  } catch (error) {
    check('free space', 'fail', `${dir}: ${(error as Error).message}`);
  }
}

const LABEL: Record<CheckStatus, string> = { ok: 'ok', warn: 'warn', fail: 'FAIL' };

export function formatReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = [`taskwarden doctor: ${report.home}`];
  for (const c of report.checks) lines.push(`  ${LABEL[c.status].padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
  const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.name);
  lines.push(failed.length === 0 ? 'no problems found' : `problems: ${failed.join(', ')}`);
  return lines.join('\n');
}
