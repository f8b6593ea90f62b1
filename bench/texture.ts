/**
 * Texture benchmarks, single core unless stated:
 *  - brick.png (512 x 512, levels 256, distances [1, 3], 4 angles): requantize + GLCM + 10 features
 *  - a 4096 x 4096 16-bit image (the generated sample), same settings (requantized v >> 8)
 *  - side by side with scikit-image (graycomatrix + graycoprops, 6 properties) when Debian's
 *    /usr/bin/python3 has it, interleaved in rounds so both see the same machine load
 *  - the plates (plate.ts): 96 images side by side with scikit-image's multiprocessing.Pool,
 *    1000 images, a cancel of a whole plate
 * Env: BENCH_TEXTURE_SCALE (default 1) multiplies the run counts; BENCH_TEXTURE_PYTHON overrides
 * the interpreter; BENCH_TEXTURE_PLATE=0 skips the plate.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { readImage, sampleImages, textureFeatures, type GreyImage } from '../src/tasks/texture/index.js';
import { nowMs, percentile, row, type BenchRow } from './lib/stats.js';
import { runPlateBench } from './plate.js';

const ANGLES = [0, Math.PI / 4, Math.PI / 2, (3 * Math.PI) / 4];
const OPTIONS = { levels: 256, distances: [1, 3], angles: ANGLES };

const PY_SCRIPT = String.raw`
import json, sys, time
import numpy as np
from skimage.feature import graycomatrix, graycoprops
images = {}
A = [0, np.pi/4, np.pi/2, 3*np.pi/4]
PROPS = ['contrast', 'dissimilarity', 'homogeneity', 'ASM', 'energy', 'correlation']
def run(img):
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    P = graycomatrix(img, [1, 3], A, levels=256, symmetric=True, normed=True)
    return [graycoprops(P, p) for p in PROPS]
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == 'load':
        name, file, h, w, dtype = cmd[1], cmd[2], int(cmd[3]), int(cmd[4]), cmd[5]
        images[name] = np.fromfile(file, dtype=dtype).reshape(h, w)
        print(json.dumps({'ok': True}), flush=True)
    elif cmd[0] == 'run':
        img, n = images[cmd[1]], int(cmd[2])
        times, cpu = [], []
        for _ in range(n):
            t = time.perf_counter(); c = time.process_time(); r = run(img)
            times.append((time.perf_counter() - t) * 1000); cpu.append((time.process_time() - c) * 1000)
        print(json.dumps({'times': times, 'cpu': cpu, 'contrast00': float(r[0][0][0])}), flush=True)
`;

interface PythonPeer {
  version: string;
  ask(line: string): Promise<{ times?: number[]; cpu?: number[]; contrast00?: number }>;
  close(): void;
}

function startSkimage(): PythonPeer | string {
  const python = process.env.BENCH_TEXTURE_PYTHON ?? '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import skimage; print(skimage.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return `scikit-image not available to ${python}`;
  const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const child: ChildProcessWithoutNullStreams = spawn(python, ['-c', PY_SCRIPT], { env });
  const lines = createInterface({ input: child.stdout });
  const waiting: Array<(v: string) => void> = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return {
    version: probe.stdout.trim(),
    ask: (line) =>
      new Promise((resolve, reject) => {
        const onExit = () => reject(new Error(`python exited: ${stderr}`));
        child.once('exit', onExit);
        waiting.push((l) => {
          child.off('exit', onExit);
          resolve(JSON.parse(l) as Parameters<typeof resolve>[0]);
        });
        child.stdin.write(`${line}\n`);
      }),
    close: () => {
      child.stdin.end();
      child.kill();
    },
  };
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Samples {
  wall: number[];
  cpu: number[];
}

function timeOurs(image: GreyImage, n: number, into: Samples): void {
  for (let k = 0; k < n; k++) {
    const t = nowMs();
    const c = cpuMs();
    textureFeatures(image, OPTIONS);
    into.cpu.push(cpuMs() - c);
    into.wall.push(nowMs() - t);
  }
}

/** Interleaved rounds of ours and scikit-image's, so both see the same load. */
async function sideBySide(
  name: string,
  image: GreyImage,
  rounds: number,
  perRound: number,
  py: PythonPeer | null,
): Promise<{ ours: Samples; theirs: Samples }> {
  const ours: Samples = { wall: [], cpu: [] };
  const theirs: Samples = { wall: [], cpu: [] };
  timeOurs(image, 2, { wall: [], cpu: [] }); // warm-up (JIT)
  if (py) await py.ask(`run ${name} 1`);
  for (let r = 0; r < rounds; r++) {
    timeOurs(image, perRound, ours);
    if (py) {
      const answer = await py.ask(`run ${name} ${perRound}`);
      theirs.wall.push(...(answer.times ?? []));
      theirs.cpu.push(...(answer.cpu ?? []));
    }
  }
  return { ours, theirs };
}

function comparison(
  label: string,
  ours: Samples,
  theirs: Samples,
  py: PythonPeer | string | null,
  issueMs: number,
): BenchRow[] {
  const rows: BenchRow[] = [];
  const p50 = percentile(ours.wall, 50);
  const cpu50 = percentile(ours.cpu, 50);
  if (theirs.wall.length > 0 && typeof py === 'object' && py) {
    const t50 = percentile(theirs.wall, 50);
    const tcpu50 = percentile(theirs.cpu, 50);
    rows.push(
      row(`texture: ${label}`, ours.wall, 'ms', {
        target: 'p50 <= scikit-image (aim 2x faster)',
        met: p50 <= t50,
        note:
          `${(t50 / p50).toFixed(2)}x faster than scikit-image ${py.version} side by side (wall p50 ${t50.toFixed(1)} ms; ` +
          `CPU-time p50 ${cpu50.toFixed(1)} vs ${tcpu50.toFixed(1)} ms: ${(tcpu50 / cpu50).toFixed(2)}x); 10 features vs its 6`,
      }),
    );
    rows.push(
      row(`texture: ${label}, scikit-image ${py.version}`, theirs.wall, 'ms', {
        note: 'graycomatrix + graycoprops, same settings, single thread',
      }),
    );
  } else {
    rows.push(
      row(`texture: ${label}`, ours.wall, 'ms', {
        target: `p50 <= ${issueMs} ms (scikit-image as measured in the issue)`,
        met: p50 <= issueMs,
        note: `CPU-time p50 ${cpu50.toFixed(1)} ms${typeof py === 'string' ? `; ${py}: no side-by-side ratio` : ''}`,
      }),
    );
  }
  return rows;
}

export async function runTextureBench(): Promise<BenchRow[]> {
  const scale = Math.max(0.1, Number(process.env.BENCH_TEXTURE_SCALE ?? 1));
  const rows: BenchRow[] = [];
  const samples = await sampleImages({ only: ['brick', 'grass', 'synthetic-4096-16bit'] });
  const file = (name: string) => samples.find((s) => s.name === name)!.path;
  const [brick] = await readImage(file('brick'));
  const [big] = await readImage(file('synthetic-4096-16bit'));
  if (brick === undefined || big === undefined) throw new Error('bench texture: a sample image decoded to no pages');

  const peer = startSkimage();
  const py = typeof peer === 'string' ? null : peer;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'taskwarden-bench-texture-'));
  try {
    if (py) {
      writeFileSync(path.join(tmp, 'brick.raw'), brick.data);
      writeFileSync(
        path.join(tmp, 'big.raw'),
        new Uint8Array(big.data.buffer, big.data.byteOffset, big.data.byteLength),
      );
      await py.ask(`load brick ${path.join(tmp, 'brick.raw')} 512 512 uint8`);
      await py.ask(`load big ${path.join(tmp, 'big.raw')} 4096 4096 <u2`);
    }
    const b = await sideBySide('brick', brick, Math.round(10 * scale), 6, py);
    rows.push(...comparison('brick.png 512x512, levels 256, d [1,3], 4 angles', b.ours, b.theirs, peer, 50));
    const g = await sideBySide('big', big, Math.max(2, Math.round(5 * scale)), 2, py);
    rows.push(...comparison('4096x4096 16-bit, levels 256, d [1,3], 4 angles', g.ours, g.theirs, peer, 600));
  } finally {
    py?.close();
    rmSync(tmp, { recursive: true, force: true });
  }

  // The plates (issue #14): whole commands side by side with scikit-image, 1000 images, a cancel mid-way.
  if (process.env.BENCH_TEXTURE_PLATE !== '0') rows.push(...(await runPlateBench()));
  return rows;
}
