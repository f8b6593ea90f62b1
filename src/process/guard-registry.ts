/**
 * Where an orphan guard's registry lives: a private directory in the temp dir, named after the
 * owner (`taskwarden-guard-<pid>.<start time>-XXXXXX`), so that one an owner left behind can be
 * told from a live one. The guard removes it when it has read it; it stays only when the guard
 * died as well (a machine-wide SIGKILL, the OOM killer), and then the next owner to start removes
 * it: its owner is gone and no guard names it any more.
 */
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HAS_PROC, isSameLiveProcess, procPids, readProcStat } from './proc.js';

export interface Registry {
  dir: string;
  path: string;
  fd: number;
  bytes: number;
}

/** The guard's $0: what its command line is found by. */
export const GUARD_NAME = 'taskwarden-guard';
const PREFIX = `${GUARD_NAME}-`;
/** A registry directory's name: `<prefix><owner pid>.<its start time>-<random>`. */
const OWNED_NAME = new RegExp(`^${PREFIX}(\\d+)\\.(\\d+)-`);
let swept = false;

/** A new registry, or undefined where the temp dir cannot be written (the guard then uses its pipe). */
export function openRegistry(): Registry | undefined {
  if (!swept) {
    swept = true;
    removeLeftRegistries();
  }
  try {
    const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}.${readProcStat(process.pid)?.startTime ?? 0}-`));
    const path = join(dir, 'groups');
    return { dir, path, fd: openSync(path, 'a', 0o600), bytes: 0 };
  } catch {
    return undefined;
  }
}

/**
 * Removes this user's registries whose owner is gone and that no guard names on its command line
 * (a guard still reading one after its owner died keeps it). Those of earlier versions, whose name
 * has no owner, go once no guard names them and they are a day old. Best effort, once per process.
 */
function removeLeftRegistries(): void {
  // Without /proc neither the owner's start time nor the guards can be checked: leave them all.
  // Limit: an owner in another pid namespace that shares this temp dir looks gone from here.
  if (!HAS_PROC) return;
  try {
    const uid = process.getuid?.();
    const left = readdirSync(tmpdir()).filter((name) => name.startsWith(PREFIX) && ownerIsGone(name, uid));
    if (left.length === 0) return;
    const named = runningGuardArguments();
    for (const name of left) {
      const dir = join(tmpdir(), name);
      if (!named.has(join(dir, 'groups'))) rmSync(dir, { recursive: true, force: true });
    }
  } catch {
    // A temp dir we cannot list: nothing to tidy.
  }
}

const DAY_MS = 24 * 3600 * 1000;

function ownerIsGone(name: string, uid: number | undefined): boolean {
  const stat = statSync(join(tmpdir(), name), { throwIfNoEntry: false });
  if (!stat?.isDirectory() || stat.uid !== uid) return false;
  const owner = OWNED_NAME.exec(name);
  if (owner) return !isSameLiveProcess(Number(owner[1]), Number(owner[2]));
  return Date.now() - stat.mtimeMs > DAY_MS;
}

/** Every argument of every running orphan guard: its registry path, its owner's cgroup prefix. */
export function runningGuardArguments(): Set<string> {
  const args = new Set<string>();
  for (const pid of procPids()) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.includes(GUARD_NAME)) for (const arg of argv) args.add(arg);
  }
  return args;
}
