/**
 * Minimal typings for the part of better-sqlite3 the journal uses. The package
 * ships no types and @types/better-sqlite3 is not installed; if it is added
 * later, delete this file. Kept private to src/journal (no public signature
 * mentions these types), so the emitted .d.ts files do not depend on it.
 */
declare module 'better-sqlite3' {
  class Database {
    constructor(filename: string, options?: Database.Options);
    readonly open: boolean;
    readonly name: string;
    prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R>;
    exec(sql: string): this;
    pragma(source: string, options?: { simple?: boolean }): unknown;
    /** Wraps fn in BEGIN/COMMIT; rolls back when fn throws. */
    transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T;
    close(): this;
  }

  namespace Database {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }

    interface Statement<P extends unknown[] = unknown[], R = unknown> {
      run(...params: P): RunResult;
      get(...params: P): R | undefined;
      all(...params: P): R[];
    }

    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      /** Busy timeout in milliseconds. */
      timeout?: number;
    }
  }

  export = Database;
}
