/**
 * Where this process sits in each cgroup hierarchy the machine mounts: the
 * directory of its own cgroup in the unified (v2) hierarchy and in each v1
 * controller's tree. Task cgroups are only ever made below these (the
 * delegation rule: never beside or above the cgroup one was started in).
 *
 * Read from /proc/self/mountinfo (where each hierarchy is mounted, and which of
 * its directories the mount shows) and /proc/self/cgroup (our path in each).
 * A pure v2 machine has one unified hierarchy at /sys/fs/cgroup; a hybrid one
 * (systemd's "hybrid" mode, many VMs and containers) mounts it at
 * /sys/fs/cgroup/unified, usually without controllers, and keeps cpu, memory,
 * freezer… in v1 trees of their own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CgroupPlaces {
  /** Our cgroup's directory in the unified hierarchy, if one is mounted. */
  readonly v2?: string;
  /** Our cgroup's directory in each v1 controller's tree, by controller name. */
  readonly v1: ReadonlyMap<string, string>;
}

interface Mount {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** Octal escapes (\040 for a space) as the kernel writes them in mountinfo. */
const unescape = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

function parseMountInfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 6 || fields.length < separator + 4) continue;
    mounts.push({
      root: unescape(fields[3]!),
      mountPoint: unescape(fields[4]!),
      fsType: fields[separator + 1]!,
      superOptions: fields[separator + 3]!.split(','),
    });
  }
  return mounts;
}

/** Our path in a hierarchy as the mount shows it; undefined when the mount does not show our cgroup. */
function dirIn(mount: Mount, path: string): string | undefined {
  if (mount.root === '/') return join(mount.mountPoint, path);
  if (path === mount.root || path.startsWith(`${mount.root}/`))
    return join(mount.mountPoint, path.slice(mount.root.length));
  return undefined;
}

export function readCgroupPlaces(): CgroupPlaces {
  let mounts: Mount[];
  let membership: string;
  try {
    mounts = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    membership = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return { v1: new Map() };
  }
  let v2: string | undefined;
  const v1 = new Map<string, string>();
  for (const line of membership.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, controllers, path] = match as unknown as [string, string, string, string];
    if (id === '0' && controllers === '') {
      const mount = mounts.find((m) => m.fsType === 'cgroup2');
      v2 = mount && trimSlash(dirIn(mount, path));
      continue;
    }
    for (const controller of controllers.split(',')) {
      if (!controller || controller.startsWith('name=')) continue;
      const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(controller));
      const dir = mount && dirIn(mount, path);
      if (dir) v1.set(controller, trimSlash(dir));
    }
  }
  return { v2, v1 };
}

function trimSlash<T extends string | undefined>(dir: T): T {
  return (dir && dir.length > 1 ? dir.replace(/\/+$/, '') : dir) as T;
}
