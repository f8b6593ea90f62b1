/**
 * Plate benchmarks of issue #14: many images, one task each, the way the work comes.
 *  - 96 copies of brick.png (512², levels 256, distances 1 and 3, 4 angles), whole commands side
 *    by side, interleaved: `taskwarden texture` (reusable runners, the default), the same with
 *    --isolate (a process per image), and scikit-image with multiprocessing.Pool(cores) (imread +
 *    graycomatrix + six graycoprops). Wall from spawn to exit; CPU of the command and everything it
 *    waited for (the children's CPU times a wrapping shell reads from /proc after the exit).
 *  - the analysis alone, in this process (decode + features per image), for the CPU-per-image target
 *  - 1000 images through an in-process Supervisor: images/s; and a cancel of the whole plate
 *    mid-way: stopAll() -> every task process gone, the finished images' results kept.
 * Env: BENCH_PLATE_RUNS (default 3) rounds of the side by side; BENCH_TEXTURE_PYTHON the interpreter.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Supervisor } from '../src/supervisor/supervisor.js';
import { clockTicksPerSecond } from '../src/process/proc.js';
import { readImage, sampleImages, textureFeatures, textureTaskModule } from '../src/tasks/texture/index.js';
import { nowMs, percentile, row, type BenchRow } from './lib/stats.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const ANGLES = [0, Math.PI / 4, Math.PI / 2, (3 * Math.PI) / 4];

const PY_PLATE = String.raw`
import json, sys
from multiprocessing import Pool
import numpy as np
from skimage import io
from skimage.feature import graycomatrix, graycoprops
A = [0, np.pi/4, np.pi/2, 3*np.pi/4]
PROPS = ['contrast', 'dissimilarity', 'homogeneity', 'ASM', 'energy', 'correlation']
def analyse(file):
    P = graycomatrix(io.imread(file), [1, 3], A, levels=256, symmetric=True, normed=True)
    return [graycoprops(P, p).tolist() for p in PROPS]
if __name__ == '__main__':
    with Pool(int(sys.argv[1])) as pool:
        results = pool.map(analyse, sys.argv[2:])
    print(json.dumps({'images': len(results), 'contrast00': results[0][0][0][0]}))
`;

interface Timed {
  wallMs: number;
  cpuMs: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command under /bin/sh, which reports its children's CPU (cutime + cstime) once the command has exited. */
function timed(command: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  const script = '"$@"; status=$?; cat /proc/$$/stat >&3; exit $status';
  const started = nowMs();
  const child = spawn('/bin/sh', ['-c', script, 'sh', ...command], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  let stat = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (d) => (stat += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = nowMs() - started;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] is proc(5) field 3; cutime and cstime are fields 16 and 17.
      const cpuMs = ((Number(fields[13]) + Number(fields[14])) * 1000) / clockTicksPerSecond();
      resolve({ wallMs, cpuMs, code, stdout, stderr });
    });
  });
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Decode + features per image in this process, after a warm-up: what the plate's CPU is compared with. */
async function analysisAlone(files: readonly string[]): Promise<number[]> {
  const perImage: number[] = [];
  for (const file of [...files.slice(0, 3), ...files]) {
    const c = cpuMs();
    const [image] = await readImage(file);
    textureFeatures(image!, { levels: 256, distances: [1, 3], angles: ANGLES });
    perImage.push(cpuMs() - c);
  }
  return perImage.slice(3);
}

function skimagePython(): string | undefined {
  const python = process.env.BENCH_TEXTURE_PYTHON ?? '/usr/bin/python3';
  return spawnSync(python, ['-c', 'import skimage'], { encoding: 'utf8' }).status === 0 ? python : undefined;
}

async function sideBySide(files: readonly string[], dir: string, runs: number): Promise<BenchRow[]> {
  const cores = os.availableParallelism();
  const python = skimagePython();
  const script = path.join(dir, 'plate.py');
  writeFileSync(script, PY_PLATE);
  const ours = (isolate: boolean) => [
    process.execPath,
    CLI,
    'texture',
    ...files,
    '--distances',
    '1,3',
    '--json',
    '--priority',
    'normal',
    ...(isolate ? ['--isolate'] : []),
  ];
  const pyEnv = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const results = { reused: [] as Timed[], isolated: [] as Timed[], skimage: [] as Timed[] };
  for (let r = 0; r < runs; r++) {
    results.reused.push(await timed(ours(false)));
    results.isolated.push(await timed(ours(true)));
    if (python) results.skimage.push(await timed([python, script, String(cores), ...files], pyEnv));
  }
  for (const [name, list] of Object.entries(results)) {
    const bad = list.find((t) => t.code !== 0);
    if (bad) throw new Error(`${name} plate failed (exit ${bad.code}): ${bad.stderr.slice(-500)}`);
  }
  const wall = (list: Timed[]) =>
    percentile(
      list.map((t) => t.wallMs / 1000),
      50,
    );
  const cpuPerImage = (list: Timed[]) => list.map((t) => t.cpuMs / files.length);
  const alone = percentile(await analysisAlone(files), 50);
  const theirs = results.skimage.length > 0 ? wall(results.skimage) : undefined;
  const label = `plate: ${files.length} x brick.png 512², levels 256, d 1,3, 4 angles, ${cores} processes`;
  const rows: BenchRow[] = [];
  const ourRow = (what: string, list: Timed[], target: boolean) => {
    const w = wall(list);
    const cpu = percentile(cpuPerImage(list), 50);
    rows.push(
      row(
        `${label}: taskwarden texture${what}, wall`,
        list.map((t) => t.wallMs / 1000),
        's',
        target && theirs !== undefined
          ? {
              target: 'wall <= 1/3 of scikit-image',
              met: w <= theirs / 3,
              note: `${(theirs / w).toFixed(2)}x faster than scikit-image's ${theirs.toFixed(2)} s`,
            }
          : {
              note:
                theirs !== undefined
                  ? `${(w / theirs).toFixed(2)}x scikit-image's wall`
                  : 'no scikit-image here: apt-get install python3-skimage',
            },
      ),
    );
    rows.push(
      row(
        `${label}: taskwarden texture${what}, CPU per image`,
        cpuPerImage(list),
        'ms',
        target
          ? {
              target: `<= 2x the analysis alone (${alone.toFixed(1)} ms: decode + features in one process)`,
              met: cpu <= 2 * alone,
              note: `${(cpu / alone).toFixed(2)}x the analysis alone; the command, its runners' start-up and IPC included`,
            }
          : { note: `${(cpu / alone).toFixed(2)}x the analysis alone` },
      ),
    );
  };
  ourRow('', results.reused, true);
  ourRow(' --isolate', results.isolated, false);
  if (results.skimage.length > 0) {
    rows.push(
      row(
        `${label}: scikit-image multiprocessing.Pool(${cores}), wall`,
        results.skimage.map((t) => t.wallMs / 1000),
        's',
        { note: 'python3 start and imports included, as for ours' },
      ),
    );
    rows.push(
      row(`${label}: scikit-image multiprocessing.Pool(${cores}), CPU per image`, cpuPerImage(results.skimage), 'ms'),
    );
  } else {
    rows.push({
      name: `${label}: scikit-image`,
      n: 0,
      unit: 's',
      p50: NaN,
      p99: NaN,
      note: 'not measured: scikit-image is missing (apt-get install python3-skimage)',
    });
  }
  rows.push(
    row(
      'plate: the analysis alone (decode + features of one image, in-process)',
      await analysisAlone(files.slice(0, 24)),
      'ms',
    ),
  );
  return rows;
}

/** 1000 images on reusable runners; then the same plate cancelled once 300 are done. */
async function bigPlate(files: readonly string[]): Promise<BenchRow[]> {
  const count = 1000;
  const cores = os.availableParallelism();
  const graceMs = 3000;
  const startPlate = (sup: Supervisor) =>
    Array.from({ length: count }, (_, k) =>
      sup.start({
        module: textureTaskModule,
        input: { images: [files[k % files.length]!], distances: [1, 3] },
        reuse: true,
        name: `well ${k + 1}`,
      }),
    );
  const options = { concurrency: cores, prewarm: 0, stallAfterMs: Infinity, priority: 'normal' as const, graceMs };
  const rows: BenchRow[] = [];

  let sup = new Supervisor(options);
  try {
    const t0 = nowMs();
    const outcomes = await Promise.all(startPlate(sup).map((t) => t.done));
    const seconds = (nowMs() - t0) / 1000;
    const failed = outcomes.filter((o) => o.state !== 'completed').length;
    rows.push(
      row(`plate: ${count} images on reusable runners, ${cores} at once`, [count / seconds], 'images/s', {
        note: `${seconds.toFixed(2)} s in all${failed ? `; ${failed} FAILED` : ''}`,
      }),
    );
  } finally {
    await sup.shutdown();
  }

  sup = new Supervisor(options);
  try {
    const tasks = startPlate(sup);
    const pids = new Set<number>();
    for (const task of tasks) task.on('state', (s) => s.pid !== undefined && pids.add(s.pid));
    let completed = 0;
    await new Promise<void>((resolve) => {
      for (const task of tasks) void task.done.then((o) => o.state === 'completed' && ++completed === 300 && resolve());
    });
    const t0 = nowMs();
    const stop = await sup.stopAll();
    const stopMs = nowMs() - t0;
    const outcomes = await Promise.all(tasks.map((t) => t.done));
    const kept = outcomes.filter((o) => o.state === 'completed' && o.result !== undefined).length;
    // The runners that ran the cancelled images are gone; the idle ones left wait for shutdown.
    const alive = [...pids].filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    }).length;
    rows.push(
      row(`plate: cancel of ${count} images mid-way (stopAll -> every task process gone)`, [stopMs], 'ms', {
        target: `<= grace + 100 ms (${graceMs + 100} ms)`,
        met: stopMs <= graceMs + 100,
        note: `${stop.cancelled} cancelled running, ${stop.notStarted} never started, ${kept} finished images' results kept; ${alive} runner(s) still alive, idle, until shutdown`,
      }),
    );
  } finally {
    await sup.shutdown();
  }
  return rows;
}

export async function runPlateBench(): Promise<BenchRow[]> {
  const runs = Math.max(1, Number(process.env.BENCH_PLATE_RUNS ?? 3));
  const [brick] = await sampleImages({ only: ['brick'] });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskwarden-bench-plate-'));
  try {
    const files = Array.from({ length: 96 }, (_, k) => path.join(dir, `well-${String(k + 1).padStart(2, '0')}.png`));
    for (const file of files) copyFileSync(brick!.path, file);
    return [...(await sideBySide(files, dir, runs)), ...(await bigPlate(files))];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
