/**
 * `taskwarden texture <image...>`: GLCM texture features of PNG/TIFF images, computed by the
 * texture task module through an in-process Supervisor, with a progress bar on stderr. Each image
 * is a task of its own (its progress, its cancel, its failure); a plate runs on one reusable runner
 * process per CPU (spec.reuse), or, with --isolate, on a fresh process per image. Ctrl+C cancels
 * the tasks gracefully and exits 130.
 *
 *   --levels N          grey levels (default 256; fewer levels requantize: floor(v * N / 2^bits))
 *   --distances 1,3     pixel distances (default 1)
 *   --angles 0,45,...   angles in degrees (default 0,45,90,135; 0 = right neighbour, 90 = below)
 *   --no-symmetric      count each pair once (scikit-image's symmetric=False); default symmetric
 *   --tile N            per-tile features: heat-map PNGs + JSON/CSV numbers in --out
 *   --json | --csv      machine-readable stdout (JSON: one entry per image, features [distance][angle])
 *   --out DIR           where tile maps go (default ./texture-maps)
 *   --isolate           a fresh process for every image (default: runners reused across images)
 */
import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { Supervisor } from '../../supervisor/supervisor.js';
import type { Task } from '../../supervisor/task.js';
import type { TaskOutcome } from '../../supervisor/types.js';
import { FEATURE_NAMES } from '../../tasks/texture/types.js';
import type { ImageResult } from '../../tasks/texture/analyze.js';
import type { TextureTaskInput, TextureTaskResult } from '../../tasks/texture/task.js';
import { MAX_LEVELS } from '../../tasks/texture/options.js';
import { PRIORITIES, type Priority } from '../../process/priority.js';
import { EXIT } from '../../common/exit-codes.js';
import { progressBar } from '../format.js';

export interface TextureCommandOptions {
  levels?: number;
  distances?: number[];
  angles?: number[];
  /** P + Pᵀ (scikit-image's symmetric=True), the default; false counts each pair once. */
  symmetric?: boolean;
  tile?: number;
  json?: boolean;
  csv?: boolean;
  out?: string;
  /** Progress bar on stderr (only drawn when stderr is a TTY). Default true; --no-progress sets false. */
  progress?: boolean;
  /**
   * CPU priority of the analysis processes. Default 'low' (nice 10): a command you wait for should
   * not starve behind other work as 'idle' would, yet this process answers Ctrl+C at once.
   */
  priority?: Priority;
  /** A fresh process for every image instead of reusable runners (one per CPU). */
  isolate?: boolean;
}

export interface TextureCommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Aborting it cancels the run, as Ctrl+C does (exit code 130). */
  signal?: AbortSignal;
  /** Install SIGINT/SIGTERM handlers (the CLI does; tests pass a signal instead). */
  handleSignals?: boolean;
  /** Tasks at once; default: the number of CPUs. */
  concurrency?: number;
}

export const EXIT_OK = EXIT.ok;
/** An image could not be analysed (the others still are). */
export const EXIT_IMAGE_FAILED = EXIT.failure;
export const EXIT_USAGE = EXIT.usage;
export const EXIT_INTERRUPTED = EXIT.interrupted;

function parseInteger(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

function parseList(name: string, integer: boolean) {
  return (value: string): number[] => {
    const parts = value.split(',').map((s) => s.trim());
    if (parts.length === 0 || parts.some((p) => p === ''))
      throw new InvalidArgumentError(`${name} must be a comma-separated list of numbers, got ${JSON.stringify(value)}`);
    return parts.map((p) => {
      const n = Number(p);
      if (!Number.isFinite(n) || (integer && (!Number.isInteger(n) || n < 1))) {
        throw new InvalidArgumentError(
          `${name}: ${JSON.stringify(p)} is not ${integer ? 'a positive integer' : 'a number'}`,
        );
      }
      return n;
    });
  };
}

export function registerTextureCommand(program: Command): void {
  program
    .command('texture')
    .description('GLCM (Haralick) texture features of PNG/TIFF images, as scikit-image computes them; Ctrl+C cancels')
    .argument(
      '<image...>',
      'PNG or TIFF files (8/16-bit grey or RGB; a multi-page TIFF is a stack), or sample:brick, sample:grass, ...',
    )
    .option(
      '--levels <n>',
      `grey levels, 2-${MAX_LEVELS} (default 256; fewer than the bit depth allows requantizes floor(v * n / 2^bits))`,
      parseInteger('--levels', 2, MAX_LEVELS),
    )
    .option('--distances <list>', 'pixel distances, e.g. 1,3 (default 1)', parseList('--distances', true))
    .option(
      '--angles <list>',
      'angles in degrees, e.g. 0,45,90,135 (the default; 0 = right neighbour, 90 = below)',
      parseList('--angles', false),
    )
    .option('--symmetric', 'count each pixel pair both ways, P + Pᵀ (the default; scikit-image symmetric=True)')
    .option('--no-symmetric', 'count each pixel pair once, reference -> neighbour (scikit-image symmetric=False)')
    .option(
      '--tile <n>',
      'also compute per-tile features: heat-map PNGs and JSON/CSV numbers in --out',
      parseInteger('--tile', 2, 1 << 30),
    )
    .option('--json', 'write only JSON to stdout: one entry per image (per page), each feature as [distance][angle]')
    .option('--csv', 'write CSV to stdout: one row per image, distance and angle')
    .option('--out <dir>', 'directory for tile maps (default ./texture-maps)')
    .option('--no-progress', 'no progress bar on stderr')
    .option(
      '--isolate',
      'run every image in a fresh process (default: one reusable process per CPU serves image after image)',
    )
    .option(
      '--priority <level>',
      'CPU priority of the analysis: idle, low (the default: nice 10) or normal',
      (value: string) => {
        if (!PRIORITIES.includes(value as Priority))
          throw new InvalidArgumentError(`--priority must be ${PRIORITIES.join(', ')}, got ${JSON.stringify(value)}`);
        return value as Priority;
      },
    )
    .addHelpText('after', '\nFeatures: ' + FEATURE_NAMES.join(', ') + '. See docs/texture.md.')
    .action(async (images: string[], options: TextureCommandOptions, command: Command) => {
      if (options.json && options.csv)
        command.error('error: --json and --csv cannot be used together', { exitCode: EXIT_USAGE });
      const code = await runTextureCommand(images, options, {
        stdout: process.stdout,
        stderr: process.stderr,
        handleSignals: true,
      });
      process.exitCode = code;
    });
}

/** The command itself, testable: returns the exit code. */
export async function runTextureCommand(
  images: string[],
  options: TextureCommandOptions,
  io: TextureCommandIO,
): Promise<number> {
  const input: Omit<TextureTaskInput, 'images'> = {
    ...(options.levels !== undefined ? { levels: options.levels } : {}),
    ...(options.distances !== undefined ? { distances: options.distances } : {}),
    ...(options.angles !== undefined ? { angles: options.angles } : {}),
    ...(options.symmetric !== undefined ? { symmetric: options.symmetric } : {}),
    ...(options.tile !== undefined ? { tile: options.tile, outDir: path.resolve(options.out ?? 'texture-maps') } : {}),
  };
  const files = images.map((f) => (f.startsWith('sample:') ? f : path.resolve(f)));
  // one task per image when tile-map names cannot collide; otherwise one task for all (it dedupes names)
  const stems = files.map((f) => path.basename(f).replace(/\.[^.]+$/, ''));
  const batches = options.tile !== undefined && new Set(stems).size !== stems.length ? [files] : files.map((f) => [f]);
  // Loaded here, not at the top: every other CLI command would pay for the texture library.
  const { textureTaskModule } = await import('../../tasks/texture/module-path.js');

  const concurrency = Math.max(1, Math.min(io.concurrency ?? os.availableParallelism(), batches.length));
  const isolate = options.isolate === true;
  const sup = new Supervisor({
    concurrency,
    // Isolated, with more images than workers: runners boot (the texture module loaded) while the
    // images before them run, as many as the queue needs. Reused: the first runners serve the plate.
    prewarm: isolate && batches.length > concurrency ? 1 : 0,
    preload: [textureTaskModule],
    graceMs: 3000,
    stallAfterMs: 60_000,
    priority: options.priority ?? 'low',
  });
  const showProgress = (options.progress ?? true) && io.stderr.isTTY === true;
  const bar = new ProgressBar(io.stderr, batches.length, showProgress);
  const tasks: Task[] = batches.map((batch, k) => {
    const task = sup.start({
      module: textureTaskModule,
      input: { ...input, images: batch },
      reuse: !isolate,
      name: `texture ${path.basename(batch[0]!)}${batch.length > 1 ? ` +${batch.length - 1}` : ''}`,
    });
    task.on('progress', ({ fraction, message }) => bar.update(k, fraction, message));
    return task;
  });

  let interrupted = false;
  const interrupt = () => {
    if (interrupted) {
      for (const t of tasks) t.kill(); // second Ctrl+C: no more grace
      return;
    }
    interrupted = true;
    bar.clear();
    io.stderr.write('texture: cancelling (Ctrl+C again to kill)...\n');
    for (const t of tasks) t.cancel();
  };
  const onAbort = () => interrupt();
  io.signal?.addEventListener('abort', onAbort);
  if (io.signal?.aborted) interrupt();
  if (io.handleSignals) {
    process.on('SIGINT', interrupt);
    process.on('SIGTERM', interrupt);
  }
  let outcomes: TaskOutcome[];
  try {
    outcomes = await Promise.all(tasks.map((t) => t.done));
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    if (io.handleSignals) {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
    }
    bar.clear();
    await sup.shutdown();
  }
  if (interrupted) {
    const done = outcomes.filter((o) => o.state === 'completed').length;
    io.stderr.write(
      `texture: cancelled (${done} of ${tasks.length} task${tasks.length > 1 ? 's' : ''} had finished)\n`,
    );
    return EXIT_INTERRUPTED;
  }

  const results: ImageResult[] = [];
  outcomes.forEach((o, k) => {
    if (o.state === 'completed') results.push(...(o.result as TextureTaskResult).images);
    else
      for (const file of batches[k]!)
        results.push({
          ok: false,
          file,
          error: {
            name: o.error?.name ?? 'Error',
            message: `${file}: task ${o.state}${o.error ? `: ${o.error.message}` : ''}`,
          },
        });
  });
  if (options.json) {
    io.stdout.write(`${compactJson(results)}\n`);
  } else if (options.csv) {
    io.stdout.write(toCsv(results));
  } else {
    io.stdout.write(toText(results));
  }
  const failed = results.filter((r): r is Extract<ImageResult, { ok: false }> => !r.ok);
  if (!options.json) for (const f of failed) io.stderr.write(`texture: ${f.error.message}\n`);
  return failed.length > 0 ? EXIT_IMAGE_FAILED : EXIT_OK;
}

/** JSON indented for reading, with arrays of numbers (and arrays of those) kept on one line. */
export function compactJson(value: unknown): string {
  let text = JSON.stringify(value, null, 2);
  // innermost first: [\n  1,\n  2\n] -> [1,2]; then [[1,2],\n [3,4]] -> [[1,2],[3,4]]
  const numbers = /\[\s*((?:-?[\d.eE+-]+|null)(?:,\s*(?:-?[\d.eE+-]+|null))*)\s*\]/g;
  const nested = /\[\s*((?:\[[^[\]]*\])(?:,\s*\[[^[\]]*\])*)\s*\]/g;
  text = text.replace(numbers, (_m, inner: string) => `[${inner.replace(/\s+/g, '')}]`);
  text = text.replace(nested, (_m, inner: string) => `[${inner.replace(/\s+/g, '')}]`);
  return text;
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(results: readonly ImageResult[]): string {
  let out = `file,page,distance,angle,${FEATURE_NAMES.join(',')}\n`;
  for (const r of results) {
    if (!r.ok) continue;
    r.distances.forEach((d, di) =>
      r.angles.forEach((a, ai) => {
        out += `${csvField(r.file)},${r.page},${d},${a},${FEATURE_NAMES.map((f) => String(r.features[f][di]![ai])).join(',')}\n`;
      }),
    );
  }
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e6 || a < 1e-4 ? v.toExponential(4) : String(Number(v.toPrecision(6)));
}

/**
 * The features as a table: one column per (distance, angle), each as wide as its widest cell, two
 * spaces between columns, so a long number (0.000281188) never runs into its neighbour.
 */
export function toText(results: readonly ImageResult[]): string {
  let out = '';
  for (const ok of results) {
    if (!ok.ok) continue;
    const page = ok.pages > 1 ? ` page ${ok.page + 1}/${ok.pages}` : '';
    out += `${ok.file}${page}: ${ok.width} x ${ok.height}, ${ok.bitDepth}-bit ${ok.colour}, levels ${ok.levels}${ok.symmetric ? ', symmetric' : ', not symmetric'}\n`;
    const header = ['feature', ...ok.distances.flatMap((d) => ok.angles.map((a) => `d=${d} ${a}°`))];
    const rows = FEATURE_NAMES.map((f) => [f, ...ok.features[f].flat().map(fmt)]);
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
    // the feature names left-aligned, the numbers right-aligned
    const line = (cells: string[]) =>
      `  ${cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}\n`;
    out += line(header);
    for (const row of rows) out += line(row);
    if (ok.tiles)
      out += `  tiles: ${ok.tiles.cols} x ${ok.tiles.rows} of ${ok.tiles.tileSize} px -> ${path.dirname(ok.tiles.json)} (${path.basename(ok.tiles.json)}, ${path.basename(ok.tiles.csv)}, ${FEATURE_NAMES.length * ok.distances.length} heat maps)\n`;
    out += '\n';
  }
  return out;
}

/** A one-line progress bar on stderr (TTY only), redrawn at most every 100 ms. */
class ProgressBar {
  readonly #fractions: number[];
  #message = '';
  #drawnAt = 0;
  #drawn = false;
  constructor(
    readonly stream: TextureCommandIO['stderr'],
    tasks: number,
    readonly enabled: boolean,
  ) {
    this.#fractions = new Array<number>(tasks).fill(0);
  }
  update(k: number, fraction: number, message?: string): void {
    this.#fractions[k] = fraction;
    if (message) this.#message = message;
    const now = Date.now();
    if (!this.enabled || now - this.#drawnAt < 100) return;
    this.#drawnAt = now;
    const total = this.#fractions.reduce((a, b) => a + b, 0) / this.#fractions.length;
    const cols = Math.max(40, Math.min(this.stream.columns ?? 80, 120));
    this.stream.write(`\r${progressBar({ fraction: total, message: this.#message }, cols).padEnd(cols - 1)}`);
    this.#drawn = true;
  }
  clear(): void {
    if (!this.#drawn) return;
    this.stream.write(`\r${' '.repeat(Math.max(40, Math.min(this.stream.columns ?? 80, 120)) - 1)}\r`);
    this.#drawn = false;
  }
}
