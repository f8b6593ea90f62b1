/**
 * The journal's SQL schema, versioned with PRAGMA user_version.
 * MIGRATIONS[i] takes a database from version i to i + 1; each runs in one
 * transaction together with the version bump, so a crash mid-migration leaves
 * the old version intact. Never edit a shipped migration: append a new one.
 *
 * Times are milliseconds since the epoch (INTEGER). JSON columns hold
 * JSON.stringify output; NULL means "absent" (undefined), the text 'null' means
 * a JSON null.
 */
export const MIGRATIONS: readonly string[] = [
  /* 0 -> 1 */ `
  CREATE TABLE tasks (
    row         INTEGER PRIMARY KEY,            -- insertion order
    id          TEXT NOT NULL UNIQUE,           -- "1", "2", ...
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('module', 'command')),
    spec        TEXT NOT NULL,                  -- JSON TaskSpec
    state       TEXT NOT NULL,                  -- current TaskState
    attempt     INTEGER NOT NULL,               -- current attempt, 0 before the first
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    started_at  INTEGER,
    ended_at    INTEGER,
    stop_reason TEXT
  );
  CREATE INDEX tasks_by_state ON tasks (state);
  CREATE INDEX tasks_by_end ON tasks (ended_at);

  CREATE TABLE attempts (
    task_id           TEXT NOT NULL REFERENCES tasks (id),
    attempt           INTEGER NOT NULL,
    state             TEXT NOT NULL,
    pid               INTEGER,
    proc_start_time   INTEGER,                  -- /proc/<pid>/stat field 22, clock ticks after boot
    started_at        INTEGER,
    ended_at          INTEGER,
    duration_ms       INTEGER,
    exit_code         INTEGER,
    signal            TEXT,
    error             TEXT,                     -- JSON TaskError
    result            TEXT,                     -- JSON
    progress_fraction REAL,
    progress_message  TEXT,
    progress_at       INTEGER,
    stop_reason       TEXT,
    escalated         INTEGER,                  -- 0 / 1
    PRIMARY KEY (task_id, attempt)
  ) WITHOUT ROWID;

  CREATE TABLE transitions (
    seq        INTEGER PRIMARY KEY,             -- append order
    task_id    TEXT NOT NULL REFERENCES tasks (id),
    attempt    INTEGER NOT NULL,
    from_state TEXT,                            -- NULL for the task's creation
    to_state   TEXT NOT NULL,
    at         INTEGER NOT NULL,
    detail     TEXT                             -- JSON object
  );
  CREATE INDEX transitions_by_task ON transitions (task_id, seq);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
