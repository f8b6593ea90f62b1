/**
 * An agent's machine-local side, as the daemon has it for one machine: its own state directory
 * (held by its lock), the journal and log files, the local Supervisor, the recovery of what a
 * previous agent of that directory left running, and the journal of the Supervisor's events.
 */
import { createHash } from 'node:crypto';
import { recover } from '../daemon/recovery.js';
import { DaemonRunningError, acquireLock, type DaemonLock } from '../daemon/lock.js';
import { ensurePrivateDir } from '../daemon/safe-fs.js';
import { Journal, LogStore } from '../journal/index.js';
import { LineageMark } from '../process/lineage.js';
import type { SupervisorOptions } from '../supervisor/options.js';
import { Supervisor } from '../supervisor/supervisor.js';
import type { SupervisorEvent } from '../supervisor/types.js';

export class AgentHome {
  readonly supervisor: Supervisor;
  readonly #journal: Journal;
  readonly #logs: LogStore;
  readonly #lock: DaemonLock;
  readonly #log: (line: string) => void;

  constructor(
    readonly dir: string,
    options: { concurrency?: number; supervisor?: SupervisorOptions },
    log: (line: string) => void,
  ) {
    this.#log = log;
    ensurePrivateDir(dir, 'agent state directory');
    this.#lock = lockHome(dir);
    this.#journal = Journal.open(dir);
    this.#logs = new LogStore(dir);
    const lineageToken = createHash('sha256').update(dir).digest('hex').slice(0, 16);
    this.supervisor = new Supervisor({ concurrency: options.concurrency, ...options.supervisor, lineageToken });
    this.#recover(lineageToken);
    this.supervisor.on('event', (event) => this.#record(event));
  }

  /** After the Supervisor's shutdown: the files and the state directory are let go. */
  close(): void {
    this.#logs.close();
    this.#journal.close();
    this.#lock.release();
  }

  /**
   * Before anything runs (as the daemon does): whatever a previous agent of this state directory
   * left running dies: its groups, its marked processes, its task cgroups.
   */
  #recover(lineageToken: string): void {
    const layout = this.supervisor.containment.layout;
    const report = recover({
      journal: this.#journal,
      start: () => {
        throw new Error('an agent never re-runs a job by itself: the queue hands it out again');
      },
      log: (line) => this.#log(line),
      mark: new LineageMark(lineageToken),
      ...(layout ? { cgroups: { layout, token: lineageToken } } : {}),
    });
    if (report.killedGroups.length + report.killedMarked.length + report.killedCgroups.length > 0) {
      this.#log(
        `killed what a previous agent left running: groups ${report.killedGroups.join(', ') || '-'}, marked processes ${report.killedMarked.join(', ') || '-'}, task cgroups ${report.killedCgroups.length}`,
      );
    }
  }

  /** The journal and the log files take the Supervisor's events, as the daemon's do. */
  #record(event: SupervisorEvent): void {
    try {
      switch (event.type) {
        case 'created':
          return this.#journalWrite(() => this.#journal.recordTask(event.task));
        case 'state': {
          const { task, previous, endedAttempt } = event;
          return this.#journalWrite(() => this.#journal.recordTransition(task, previous, Date.now(), endedAttempt));
        }
        case 'spawned': {
          const { taskId, attempt, pid, startTime, at } = event;
          return this.#journalWrite(() => this.#journal.recordSpawn(taskId, attempt, pid, startTime, at));
        }
        case 'log':
          return this.#logs.append(event.log);
        default:
          return;
      }
    } catch (error) {
      this.#log(`handling a ${event.type} event failed: ${error instanceof Error ? error.stack : String(error)}`);
    }
  }

  #journalWrite(write: () => unknown): void {
    try {
      write();
    } catch (error) {
      this.#log(`journal: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function lockHome(dir: string): DaemonLock {
  try {
    return acquireLock(dir);
  } catch (error) {
    if (error instanceof DaemonRunningError) {
      throw new Error(
        `another taskwarden process (pid ${error.pid}) already uses ${dir}: give each agent its own state directory (--home)`,
        { cause: error },
      );
    }
    throw error;
  }
}
