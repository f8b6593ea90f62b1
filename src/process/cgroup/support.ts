/**
 * Which containment this machine allows, found by trying: a task cgroup is
 * possible where we can create a directory below our own cgroup in the unified
 * hierarchy and the kernel has cgroup.kill (Linux 5.14+); its CPU and memory
 * controls come from the unified hierarchy where its controllers are enabled
 * for us, else from v1's cpu and memory trees where those are writable
 * (hybrid machines). Never a silent downgrade: what is not in force comes with
 * the reason, for `taskwarden doctor`, the daemon's WELCOME and the README.
 */
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { CpuPriority } from '../priority.js';
import { readCgroupPlaces, type CgroupPlaces } from './places.js';

/**
 * Set to "off" to use process groups even where cgroups can be written (by choice, or to run the
 * test suite against the fallback): it turns containment 'auto' into 'process-group'.
 */
export const CGROUPS_ENV = 'TASKWARDEN_CGROUPS';

export interface ControllerPlace {
  readonly version: 1 | 2;
  /** The directory task cgroups of this controller are made in (our own cgroup in that tree). */
  readonly parent: string;
}

export interface CgroupLayout {
  /** Our own cgroup in the unified hierarchy: task cgroups are made in it. */
  readonly v2: string;
  readonly cpu?: ControllerPlace;
  readonly memory?: ControllerPlace;
}

export interface ContainmentSupport {
  readonly backend: 'cgroup' | 'process-group';
  readonly layout?: CgroupLayout;
  /** What is in force, one line per control. */
  readonly controls: readonly string[];
  /** Why something stronger is not, one line per reason. */
  readonly limits: readonly string[];
}

let cached: ContainmentSupport | undefined;

/** What this machine allows this process, whatever $TASKWARDEN_CGROUPS says. Probed once (a few mkdir/rmdir); `refresh` probes again. */
export function containmentSupport(refresh = false): ContainmentSupport {
  if (!cached || refresh) cached = probe(readCgroupPlaces());
  return cached;
}

/** What containment 'auto' gives: the machine's best, unless $TASKWARDEN_CGROUPS=off. */
export function automaticContainment(): ContainmentSupport {
  if (process.env[CGROUPS_ENV] === 'off' && containmentSupport().backend === 'cgroup') {
    return processGroupSupport([`${CGROUPS_ENV}=off is set (cgroups could be used here)`]);
  }
  return containmentSupport();
}

/** Process groups: what they give, and why nothing stronger is used. */
export function processGroupSupport(limits: string[]): ContainmentSupport {
  return {
    backend: 'process-group',
    controls: [
      "stop: signals to the task's process group, plus descendants found by /proc sampling and lineage marks",
      "pause: SIGSTOP/SIGCONT to the task's process group (a task can see it; what left the group is not paused)",
    ],
    limits,
  };
}

function probe(places: CgroupPlaces): ContainmentSupport {
  const groupOnly = processGroupSupport;
  if (os.platform() !== 'linux') return groupOnly(['cgroups exist on Linux only']);
  if (!places.v2) return groupOnly(['no unified (v2) cgroup hierarchy is mounted (cgroup.kill needs one)']);
  const v2 = tryProbe(places.v2, ['cgroup.kill', 'cgroup.events']);
  if (typeof v2 === 'string') return groupOnly([v2]);
  const limits: string[] = [];
  const cpu = v2.has('cpu.idle')
    ? { version: 2 as const, parent: places.v2 }
    : v1Place(places, 'cpu', ['cpu.idle', 'cpu.shares'], limits);
  const memory =
    v2.has('memory.max') && v2.has('memory.oom.group')
      ? { version: 2 as const, parent: places.v2 }
      : v1Place(places, 'memory', ['memory.limit_in_bytes', 'memory.oom_control'], limits);
  const layout: CgroupLayout = { v2: places.v2, ...(cpu ? { cpu } : {}), ...(memory ? { memory } : {}) };
  const controls = [
    `stop: cgroup.kill on the task's own cgroup below ${places.v2} (atomic: nothing it started escapes)`,
    'stopped: cgroup.events "populated 0" (the kernel\'s word, watched)',
    'pause: cgroup.freeze (the task cannot tell)',
    cpu
      ? `cpu: cpu.idle / weight of the task's cgroup (v${cpu.version}, ${cpu.parent})`
      : 'cpu: nice and session autogroups (no cgroup cpu controller here)',
    memory
      ? `memory: limit and OOM detection (v${memory.version}, ${memory.parent})`
      : 'memory: no limit available (no cgroup memory controller here)',
  ];
  return { backend: 'cgroup', layout, controls, limits };
}

/** A v1 controller's tree when we may make cgroups in it and it has the files we need; else a reason, in `limits`. */
function v1Place(
  places: CgroupPlaces,
  controller: string,
  files: string[],
  limits: string[],
): ControllerPlace | undefined {
  const parent = places.v1.get(controller);
  if (!parent) {
    limits.push(
      `${controller}: no ${controller} controller in the unified hierarchy for us, nor a v1 ${controller} tree`,
    );
    return undefined;
  }
  const found = tryProbe(parent, files);
  if (typeof found === 'string') {
    limits.push(`${controller}: ${found}`);
    return undefined;
  }
  return { version: 1, parent };
}

/** Makes and removes a probe cgroup in `parent`: the files it had, or why it failed. */
function tryProbe(parent: string, required: string[]): Set<string> | string {
  const dir = join(parent, `taskwarden-probe-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  try {
    mkdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `cannot create a cgroup in ${parent} (${code}): run as root, or inside a delegated cgroup (systemd-run --user --scope -p Delegate=yes …)`;
  }
  try {
    const wanted = [
      'cgroup.kill',
      'cgroup.events',
      'cpu.idle',
      'cpu.shares',
      'memory.max',
      'memory.oom.group',
      'memory.limit_in_bytes',
      'memory.oom_control',
    ];
    const present = new Set(wanted.filter((file) => existsSync(join(dir, file))));
    const missing = required.filter((file) => !present.has(file));
    if (missing.length > 0) {
      return `${parent} has no ${missing.join(', ')} (${missing.includes('cgroup.kill') ? 'Linux 5.14+ needed' : 'controller not enabled for us'})`;
    }
    return present;
  } finally {
    try {
      rmdirSync(dir);
    } catch {
      // An empty cgroup just made: nothing can hold it.
    }
  }
}

/** The CPU priority mechanism in force when task cgroups carry it, in words (diagnostics, `doctor`). */
export function cgroupPriorityMechanism(priority: CpuPriority, cpu: ControllerPlace): string {
  const where = `each task's own cgroup (cgroup v${cpu.version} cpu controller)`;
  if (priority.schedIdle) return `cpu.idle=1 on ${where}`;
  if (priority.nice === 0) return 'normal priority (nothing applied)';
  return `the CPU weight of nice ${priority.nice} on ${where}`;
}
