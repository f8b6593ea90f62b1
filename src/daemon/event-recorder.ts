/**
 * The supervisor's events, recorded and told: this is the journal's only writer, and for every
 * event the journal write comes first, then the broadcast, so a client that saw a state can rely
 * on the journal having it. Task output goes to the log files, progress to the journal at most
 * once per interval (progress-journal.ts).
 *
 * While the journal cannot be written (disk full), the writes are held in memory in order and
 * retried (journal-writer.ts); events still go out, and subscribers hear at once when journal or
 * log writes start or stop failing (DAEMON_HEALTH; WELCOME carries health() too).
 */
import type { Journal, LogStore } from '../journal/index.js';
import type { DaemonHealth, DaemonMessage } from '../protocol/index.js';
import { isTerminalState, type SupervisorEvent, type TaskSnapshot } from '../supervisor/types.js';
import { errorCode } from './diagnostics.js';
import { JournalWriter, type JournalHealth, type WriteOptions } from './journal-writer.js';
import { ProgressJournal } from './progress-journal.js';

export interface EventRecorderOptions {
  journal: Journal;
  logs: LogStore;
  broadcast: (message: DaemonMessage) => void;
  /** Lets the supervisor drop its finished tasks (the journal keeps them). */
  clearFinished: () => void;
  log: (message: string) => void;
  /** Progress is written to the journal at most this often per task. Default 500 ms. */
  progressJournalIntervalMs?: number;
  /** First retry delay of a failed journal write (journal-writer.ts). */
  journalRetryMs?: number;
}

/**
 * Finished tasks stay in the supervisor (LIST, SNAPSHOT, restart) until this
 * many have ended; then they are let go at once. The journal keeps them all
 * (history, show), so a long-lived daemon's memory stays bounded.
 */
const MAX_FINISHED_IN_MEMORY = 1000;

export class EventRecorder {
  readonly #journal: Journal;
  readonly #logs: LogStore;
  readonly #broadcast: (message: DaemonMessage) => void;
  readonly #clearFinished: () => void;
  readonly #log: (message: string) => void;
  readonly #writer: JournalWriter;
  readonly #progress: ProgressJournal;
  #finishedSinceClear = 0;

  constructor(options: EventRecorderOptions) {
    this.#journal = options.journal;
    this.#logs = options.logs;
    this.#broadcast = options.broadcast;
    this.#clearFinished = options.clearFinished;
    this.#log = options.log;
    this.#writer = new JournalWriter({
      log: options.log,
      onChange: () => this.healthChanged(),
      retryMinMs: options.journalRetryMs,
    });
    const journal = options.journal;
    this.#progress = new ProgressJournal(options.progressJournalIntervalMs ?? 500, (id, attempt, progress) => {
      const at = Date.now();
      this.#journalWrite(() => journal.recordProgress(id, attempt, progress, at), {
        taskId: id,
        coalesce: `progress:${attempt}`,
      });
    });
  }

  record(event: SupervisorEvent): void {
    try {
      switch (event.type) {
        case 'created':
          return this.#onCreated(event.task);
        case 'state':
          return this.#onState(event);
        case 'spawned': {
          const { taskId, attempt, pid, startTime, at } = event;
          return this.#journalWrite(() => this.#journal.recordSpawn(taskId, attempt, pid, startTime, at), { taskId });
        }
        case 'progress':
          this.#progress.note(event.taskId, event.attempt, event.progress);
          return this.#broadcast({ type: 'TASK_PROGRESS', taskId: event.taskId, progress: event.progress });
        case 'stall':
          return this.#broadcast({ type: 'TASK_STALL', taskId: event.taskId, stall: event.stall });
        case 'log':
          this.#logs.append(event.log);
          return this.#broadcast({ type: 'TASK_LOG', log: event.log });
        case 'usage':
          return this.#broadcast({ type: 'TASK_USAGE', taskId: event.taskId, usage: event.usage });
      }
    } catch (error) {
      this.#log(
        `handling a supervisor ${event.type} event failed: ${error instanceof Error ? error.stack : String(error)}`,
      );
    }
  }

  health(): DaemonHealth {
    const logs = this.#logs.health();
    return {
      journal: this.#writer.health(),
      logs: logs.writable
        ? { writable: true, droppedLines: 0 }
        : {
            writable: false,
            ...(logs.failingSince !== undefined ? { failingSince: logs.failingSince } : {}),
            ...(logs.error
              ? { cause: errorCode(logs.error).slice(0, 200), message: logs.error.message.slice(0, 2000) }
              : {}),
            droppedLines: logs.droppedLines,
          },
    };
  }

  /** Subscribers hear at once when journal or log writes start or stop failing. */
  healthChanged(): void {
    this.#broadcast({ type: 'DAEMON_HEALTH', health: this.health() });
  }

  /** Tries the held journal writes now; the journal's health after that. */
  retryJournal(): JournalHealth {
    this.#writer.flush();
    return this.#writer.health();
  }

  /** At shutdown, once the tasks have stopped: pending progress written, held writes tried a last time. */
  close(): void {
    this.#progress.flush();
    const lost = this.#writer.close();
    if (lost > 0) {
      const { cause, message } = this.#writer.health();
      this.#log(
        `${lost} journal write(s) could not be made before shutdown (${cause}: ${message}); the journal misses them, and the next daemon's recovery settles their tasks`,
      );
    }
  }

  /**
   * A new task, or one of the journal's run again under its id (TASK_RESTART of a task an earlier
   * daemon ran): then its recorded state is the one it leaves, for the journal and the clients.
   */
  #onCreated(task: TaskSnapshot): void {
    const recorded = task.attempt > 1 ? this.#journal.getTask(task.id)?.task.state : undefined;
    const at = Date.now();
    this.#journalWrite(() => this.#journal.recordTask(task, at), { taskId: task.id });
    this.#broadcast({ type: 'TASK_STATUS', task, ...(recorded ? { previous: recorded } : {}) });
  }

  #onState({ task, previous, endedAttempt }: Extract<SupervisorEvent, { type: 'state' }>): void {
    this.#progress.forget(task.id);
    const at = Date.now();
    this.#journalWrite(() => this.#journal.recordTransition(task, previous, at, endedAttempt), { taskId: task.id });
    if (isTerminalState(task.state)) this.#forgetFinishedWhenMany();
    this.#broadcast({ type: 'TASK_STATUS', task, previous });
    if (isTerminalState(task.state)) this.#broadcast({ type: 'TASK_COMPLETE', task });
  }

  #forgetFinishedWhenMany(): void {
    if (++this.#finishedSinceClear < MAX_FINISHED_IN_MEMORY) return;
    this.#finishedSinceClear = 0;
    // Not from inside the supervisor's own event dispatch.
    setImmediate(() => this.#clearFinished());
  }

  /**
   * A journal write that fails for a reason that can pass (disk full) is held and retried, in
   * order with the writes after it; the daemon and its clients carry on (see journal-writer.ts).
   */
  #journalWrite(write: () => unknown, options: WriteOptions): void {
    this.#writer.write(write, options);
  }
}
