/**
 * Drives the real `taskwarden` UI in a pseudo-terminal (node-pty) and reads the screen the way a
 * terminal shows it (@xterm/headless). CI is removed from the child's environment: Ink writes no
 * intermediate frames when it thinks it runs under CI.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import pty from 'node-pty';
import xterm from '@xterm/headless';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const cliPath = path.join(repoRoot, 'dist/src/cli/main.js');

export interface PtyOptions {
  cols?: number;
  rows?: number;
  /** taskwarden.config.json written into the working directory; none: the defaults. */
  config?: unknown;
  args?: string[];
  env?: Record<string, string>;
}

export class PtyUi {
  readonly dir: string;
  readonly home: string;
  readonly term: InstanceType<typeof xterm.Terminal>;
  readonly proc: pty.IPty;
  /** Raw output, for latency measurements: growing, never cleared. */
  raw = '';
  exited: Promise<{ exitCode: number; signal?: number }>;
  #writes: Promise<void> = Promise.resolve();
  #dataListeners = new Set<(data: string) => void>();

  constructor(options: PtyOptions = {}) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'taskwarden-tui-'));
    this.home = path.join(this.dir, 'home');
    if (options.config !== undefined)
      writeFileSync(path.join(this.dir, 'taskwarden.config.json'), JSON.stringify(options.config, null, 2));
    const cols = options.cols ?? 140;
    const rows = options.rows ?? 30;
    this.term = new xterm.Terminal({ cols, rows, allowProposedApi: true });
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (
        v === undefined ||
        k === 'CI' ||
        k === 'CONTINUOUS_INTEGRATION' ||
        k.startsWith('VITEST') ||
        k === 'NODE_OPTIONS'
      )
        continue;
      env[k] = v;
    }
    Object.assign(
      env,
      { TERM: 'xterm-256color', FORCE_COLOR: '1', TASKWARDEN_CACHE_DIR: path.join(this.dir, 'cache') },
      options.env ?? {},
    );
    this.proc = pty.spawn(process.execPath, [cliPath, '--home', this.home, ...(options.args ?? [])], {
      name: 'xterm-256color',
      cols,
      rows,
      cwd: this.dir,
      env,
    });
    this.proc.onData((data) => {
      this.raw += data;
      this.#writes = this.#writes.then(() => new Promise<void>((resolve) => this.term.write(data, resolve)));
      for (const l of this.#dataListeners) l(data);
    });
    this.exited = new Promise((resolve) => this.proc.onExit((e) => resolve(e)));
  }

  onData(listener: (data: string) => void): () => void {
    this.#dataListeners.add(listener);
    return () => this.#dataListeners.delete(listener);
  }

  /** The screen as text, one string per row (trailing spaces trimmed). */
  async screen(): Promise<string[]> {
    await this.#writes;
    const buffer = this.term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < this.term.rows; y++)
      lines.push(buffer.getLine(buffer.viewportY + y)?.translateToString(true) ?? '');
    return lines;
  }

  async text(): Promise<string> {
    return (await this.screen()).join('\n');
  }

  /** The table row of task `id`. */
  async row(id: string): Promise<string> {
    return (await this.screen()).find((l) => l.startsWith(`${id} `)) ?? '';
  }

  write(keys: string): void {
    this.proc.write(keys);
  }

  async waitFor(
    check: string | RegExp | ((screen: string) => boolean),
    timeoutMs = 20_000,
    what?: string,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const test =
      typeof check === 'function'
        ? check
        : (s: string) => (typeof check === 'string' ? s.includes(check) : check.test(s));
    for (;;) {
      const text = await this.text();
      if (test(text)) return text;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what ?? String(check)}; screen:\n${text}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async waitForRow(id: string, check: string | RegExp, timeoutMs = 20_000): Promise<string> {
    const test = (row: string) => (typeof check === 'string' ? row.includes(check) : check.test(row));
    await this.waitFor(
      (s) => test(s.split('\n').find((l) => l.startsWith(`${id} `)) ?? ''),
      timeoutMs,
      `row ${id} to show ${String(check)}`,
    );
    return this.row(id);
  }

  /** A position in the raw output, for `waitForRowOutput`. */
  mark(): number {
    return this.raw.length;
  }

  /**
   * Waits until a frame written since `since` showed row `id` matching `check`. Reads the output
   * stream, not the screen: a frame that lived for less than a poll (a kill that is confirmed within
   * milliseconds replaces the 'killing…' frame at once) is still seen.
   */
  async waitForRowOutput(since: number, id: string, check: string | RegExp, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const test = (row: string) => (typeof check === 'string' ? row.includes(check) : check.test(row));
    for (;;) {
      const lines = stripVTControlCharacters(this.raw.slice(since)).split(/\r?\n/);
      if (lines.some((l) => l.startsWith(`${id} `) && test(l))) return;
      if (Date.now() > deadline)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for a frame with row ${id} showing ${String(check)}; screen:\n${await this.text()}`,
        );
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Waits until output written since `since` had a line matching `check` (a frame may live shorter than a poll). */
  async waitForOutput(since: number, check: RegExp, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (
        stripVTControlCharacters(this.raw.slice(since))
          .split(/\r?\n/)
          .some((l) => check.test(l))
      )
        return;
      if (Date.now() > deadline)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for a frame showing ${String(check)}; screen:\n${await this.text()}`,
        );
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Kills the UI if still there; removes the temp dir unless `keep`. */
  async dispose(keep = false): Promise<void> {
    try {
      this.proc.kill('SIGKILL');
    } catch {
      // gone
    }
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 2000))]);
    this.term.dispose();
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}
