/** The journal (SQLite: tasks, attempts, transitions) and the per-attempt log files. */
export { Journal, JOURNAL_FILE, type JournalOptions, type JournalSettings } from './journal.js';
export type { AttemptRecord, InterruptDetail, ListOptions, TaskRecord, TransitionRecord, UnfinishedTask } from './types.js';
export { SCHEMA_VERSION } from './schema.js';
export {
  LogStore,
  LOGS_DIR,
  DEFAULT_MAX_LOG_BYTES,
  parseLines,
  type FollowOptions,
  type LogReadResult,
  type LogStoreHealth,
  type LogStoreOptions,
  type LogStream,
  type StoredLogLine,
} from './logs.js';
