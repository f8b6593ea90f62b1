import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const assetsDir = path.join(repoRoot, 'assets/texture');

export function tempDir(prefix = 'taskwarden-texture-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Relative error, with an absolute floor for values near zero. */
export function relErr(actual: number, expected: number): number {
  const scale = Math.max(Math.abs(expected), 1e-12);
  return Math.abs(actual - expected) / scale;
}

export function maxRelErr(actual: number[][], expected: number[][]): number {
  let worst = 0;
  expected.forEach((row, d) =>
    row.forEach((e, a) => {
      worst = Math.max(worst, relErr(actual[d][a], e));
    }),
  );
  return worst;
}

/** Deterministic PRNG: the one that generates the sample images. */
export { mulberry32 as rng } from '../../src/tasks/texture/samples.js';
