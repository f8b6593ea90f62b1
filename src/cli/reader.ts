/**
 * What read-only commands (history, show, ls, logs) read: the daemon when one runs (it knows the
 * live state), else the journal and the log files directly, without starting a daemon that would
 * keep running after the command. Either way the answers have the protocol's shapes.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { DaemonClient, DaemonError } from '../daemon/client.js';
import { homePath, resolveHome } from '../daemon/home.js';
import { Journal, LogStore } from '../journal/index.js';
import type { PayloadArgs, PayloadOf, ResponseOf } from '../protocol/index.js';
import { CLIENT_NAME, globals } from './context.js';

/** The requests a reader answers without a daemon. */
export type ReadRequestType = 'GET' | 'HISTORY' | 'LIST' | 'LOGS';

export interface Reader {
  /** GET, HISTORY, LIST and LOGS, answered as the daemon answers them (the same ResponseOf types). */
  request<T extends ReadRequestType>(type: T, ...payload: PayloadArgs<T>): Promise<ResponseOf<T>>;
  close(): void;
  /** The daemon answers (live state); false: read from the journal, no daemon runs. */
  readonly live: boolean;
  readonly home: string;
  /** The daemon's client, when live. */
  readonly client?: DaemonClient;
}

/** The running daemon, or the journal when none runs (nothing is started). */
export async function openReader(command: Command): Promise<Reader> {
  // No state directory: nothing ever ran here, and a read creates none.
  const path = homePath({ home: globals(command).home });
  if (!existsSync(path)) return new JournalReader(path, undefined);
  const home = resolveHome({ home: path });
  try {
    const client = await DaemonClient.connect({ home, autostart: false, clientName: CLIENT_NAME });
    return {
      request: (type, ...payload) => client.request(type, ...payload),
      close: () => client.close(),
      live: true,
      home: client.welcome.home,
      client,
    };
  } catch (error) {
    if ((error as { code?: string }).code !== 'NO_DAEMON') throw error;
  }
  const journal = Journal.openReadOnly(home);
  return new JournalReader(home, journal);
}

/** Runs fn with a reader that is closed afterwards, whatever happens. */
export async function withReader<T>(command: Command, fn: (reader: Reader) => Promise<T>): Promise<T> {
  const reader = await openReader(command);
  try {
    return await fn(reader);
  } finally {
    reader.close();
  }
}

/** How many finished tasks `ls --all` takes from the journal (as the daemon does). */
const LIST_JOURNAL_LIMIT = 500;

type JournalReads = { [K in ReadRequestType]: (payload: PayloadOf<K>) => ResponseOf<K> };

class JournalReader implements Reader {
  readonly live = false;

  constructor(
    readonly home: string,
    /** Undefined: no journal yet (nothing ever ran here), or one only a daemon can migrate. */
    readonly journal: Journal | undefined,
  ) {}

  async request<T extends ReadRequestType>(type: T, ...[payload]: PayloadArgs<T>): Promise<ResponseOf<T>> {
    const read: JournalReads[T] = this.#reads[type];
    return read((payload ?? {}) as PayloadOf<T>);
  }

  readonly #reads: JournalReads = {
    HISTORY: ({ limit }) => ({ tasks: this.journal?.history(limit ?? 50) ?? [] }),
    LIST: ({ includeFinished }) => ({
      tasks: includeFinished
        ? (this.journal?.listTasks({ includeFinished: true, limit: LIST_JOURNAL_LIMIT }) ?? [])
        : (this.journal?.listTasks() ?? []),
    }),
    GET: ({ taskId }) => {
      const record = this.journal?.getTask(taskId);
      if (!record) throw unknownTask(taskId);
      return { ...record };
    },
    LOGS: ({ taskId, attempt, tailBytes }) => {
      if (!this.journal?.getTask(taskId)) throw unknownTask(taskId);
      const read = new LogStore(this.home).read(taskId, attempt, tailBytes);
      return { attempt: read.attempt, lines: read.lines };
    },
  };

  close(): void {
    this.journal?.close();
  }
}

function unknownTask(taskId: string): DaemonError {
  return new DaemonError('UNKNOWN_TASK', `no task ${taskId}: "taskwarden ls --all" lists the known tasks`);
}
