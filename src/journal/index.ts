/** The journal (SQLite: tasks, attempts, transitions) and the per-attempt log files. */
export { Journal } from './journal.js';
export { JOURNAL_FILE } from './journal-file.js';
export type { AttemptRecord, TransitionRecord, UnfinishedTask } from './types.js';
export { SCHEMA_VERSION } from './schema.js';
export { LogStore, LOGS_DIR, type LogStoreOptions } from './logs.js';
export type { StoredLogLine } from './log-format.js';
