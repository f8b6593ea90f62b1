/**
 * The daemon's health as people read it: one line for the UI header, what to do
 * about a failing journal. Shared by the daemon (its refusals), `taskwarden
 * doctor` and the terminal UI.
 */
import type { DaemonHealth } from '../protocol/messages.js';

export type { DaemonHealth } from '../protocol/messages.js';

/** Local wall-clock time, "14:02" (with seconds: "14:02:09"). */
export function clockTime(ms: number, seconds = false): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}${seconds ? `:${two(d.getSeconds())}` : ''}`;
}

/** "journal: writes failing (ENOSPC) since 14:02", or undefined when the journal is written. */
export function journalProblem(health: DaemonHealth | undefined): string | undefined {
  const journal = health?.journal;
  if (!journal || journal.writable) return undefined;
  return `journal: writes failing (${journal.cause ?? 'error'})${journal.failingSince !== undefined ? ` since ${clockTime(journal.failingSince)}` : ''}`;
}

/** "task logs: writes failing (ENOSPC) since 14:02", or undefined when they are written. */
export function logsProblem(health: DaemonHealth | undefined): string | undefined {
  const logs = health?.logs;
  if (!logs || logs.writable) return undefined;
  return `task logs: writes failing (${logs.cause ?? 'error'})${logs.failingSince !== undefined ? ` since ${clockTime(logs.failingSince)}` : ''}`;
}

/** What a person can do about writes failing with this cause. */
export function remedy(cause: string | undefined, home: string): string {
  if (cause === 'ENOSPC' || cause === 'EDQUOT') return `free space on the disk holding ${home}`;
  if (cause && /READONLY|EROFS|EPERM|EACCES|IOERR_WRITE|CANTOPEN/.test(cause)) {
    return `make ${home} and the journal files in it writable again (a read-only mount? chattr +i? permissions?)`;
  }
  return `check the disk holding ${home}`;
}
