/**
 * Sample images for templates and benchmarks: brick.png and grass.png shipped in assets/texture
 * (CC0, see assets/texture/NOTICE.md), plus larger deterministic synthetic 16-bit textures that are
 * generated on first use into a cache directory (never committed).
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, stat, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeGreyTiff } from './tiff.js';
import type { GreyImage } from './types.js';

export interface SampleImage {
  name: string;
  path: string;
  description: string;
  width: number;
  height: number;
  bitDepth: 8 | 16;
  pages: number;
  /** Shipped with the package, or generated into the cache on first use. */
  origin: 'asset' | 'generated';
}

/** The package's assets/texture directory, found by walking up from this module (works from src/ and dist/src/). */
export function assetsDirectory(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let k = 0; k < 8; k++) {
    const candidate = path.join(dir, 'assets', 'texture');
    if (existsSync(path.join(candidate, 'brick.png'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(
    `taskwarden: assets/texture (brick.png, grass.png) not found above ${fileURLToPath(import.meta.url)}`,
  );
}

/**
 * Where generated samples go: $TASKWARDEN_CACHE_DIR, else $XDG_CACHE_HOME/taskwarden, else
 * ~/.cache/taskwarden, else <os.tmpdir()>/taskwarden-cache; plus /texture.
 */
export function cacheDirectory(): string {
  const env = process.env;
  if (env.TASKWARDEN_CACHE_DIR) return path.join(env.TASKWARDEN_CACHE_DIR, 'texture');
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'taskwarden', 'texture');
  const home = os.homedir();
  if (home && home !== '/' && existsSync(home)) return path.join(home, '.cache', 'taskwarden', 'texture');
  return path.join(os.tmpdir(), 'taskwarden-cache', 'texture');
}

/** Deterministic PRNG (mulberry32); the tests use it too. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A deterministic synthetic texture (same seed, same pixels on every machine): two oriented
 * gratings plus three octaves of smooth value noise and a little fine grain, scaled to the full
 * range of the bit depth.
 */
export function syntheticTexture(width: number, height: number, seed = 1, bitDepth: 8 | 16 = 16): GreyImage {
  const random = mulberry32(seed * 2654435761);
  const octaves = [
    { cell: 96, weight: 0.3 },
    { cell: 24, weight: 0.2 },
    { cell: 6, weight: 0.1 },
  ].map(({ cell, weight }) => {
    const gw = Math.ceil(width / cell) + 2;
    const gh = Math.ceil(height / cell) + 2;
    const grid = new Float64Array(gw * gh);
    for (let k = 0; k < grid.length; k++) grid[k] = random();
    return { cell, weight, gw, grid };
  });
  const gratings = [0, 1].map(() => {
    const theta = random() * Math.PI;
    const wavelength = 12 + random() * 40;
    const k = (2 * Math.PI) / wavelength;
    return { kx: Math.cos(theta) * k, ky: Math.sin(theta) * k, phase: random() * 2 * Math.PI, weight: 0.15 };
  });
  const grainWeight = 0.1;
  const max = bitDepth === 16 ? 65535 : 255;
  const data = bitDepth === 16 ? new Uint16Array(width * height) : new Uint8Array(width * height);
  const smooth = (t: number) => t * t * (3 - 2 * t);
  // per-column tables: lattice index and smoothed fraction per octave; grating sin/cos per column
  const cols = octaves.map((o) => {
    const ix = new Int32Array(width);
    const tx = new Float64Array(width);
    for (let x = 0; x < width; x++) {
      const f = x / o.cell;
      ix[x] = Math.floor(f);
      tx[x] = smooth(f - ix[x]);
    }
    return { ix, tx };
  });
  const gx = gratings.map((g) => {
    const s = new Float64Array(width);
    const c = new Float64Array(width);
    for (let x = 0; x < width; x++) {
      s[x] = Math.sin(g.kx * x);
      c[x] = Math.cos(g.kx * x);
    }
    return { s, c };
  });
  const row = new Float64Array(width);
  for (let y = 0; y < height; y++) {
    row.fill(0);
    octaves.forEach((o, k) => {
      const fy = y / o.cell;
      const iy = Math.floor(fy);
      const ty = smooth(fy - iy);
      const g = o.grid,
        w = o.gw,
        { ix, tx } = cols[k];
      for (let x = 0; x < width; x++) {
        const base = iy * w + ix[x];
        const t = tx[x];
        const top = g[base] + (g[base + 1] - g[base]) * t;
        const bottom = g[base + w] + (g[base + w + 1] - g[base + w]) * t;
        row[x] += o.weight * (top + (bottom - top) * ty);
      }
    });
    gratings.forEach((gr, k) => {
      // sin(kx x + ky y + phase) = sin(kx x) cos(b) + cos(kx x) sin(b)
      const b = gr.ky * y + gr.phase;
      const cb = Math.cos(b) * 0.5 * gr.weight,
        sb = Math.sin(b) * 0.5 * gr.weight;
      const { s, c } = gx[k];
      for (let x = 0; x < width; x++) row[x] += 0.5 * gr.weight + s[x] * cb + c[x] * sb;
    });
    const base = y * width;
    for (let x = 0; x < width; x++) {
      const v = row[x] + grainWeight * random();
      data[base + x] = Math.min(max, Math.max(0, Math.round(v * max)));
    }
  }
  return { width, height, bitDepth, data };
}

interface GeneratedSpec {
  name: string;
  description: string;
  width: number;
  height: number;
  pages: number;
  seed: number;
}

/** Version of the generator: bump when syntheticTexture changes so caches regenerate. */
const GENERATOR_VERSION = 1;

const GENERATED: GeneratedSpec[] = [
  {
    name: 'synthetic-2048-16bit',
    description: 'synthetic texture, 2048 x 2048, 16-bit grey TIFF (generated)',
    width: 2048,
    height: 2048,
    pages: 1,
    seed: 2048,
  },
  {
    name: 'synthetic-4096-16bit',
    description: 'synthetic texture, 4096 x 4096, 16-bit grey TIFF (generated)',
    width: 4096,
    height: 4096,
    pages: 1,
    seed: 4096,
  },
  {
    name: 'stack-4x512-16bit',
    description: 'stack of 4 synthetic textures, 512 x 512, 16-bit grey multi-page TIFF (generated)',
    width: 512,
    height: 512,
    pages: 4,
    seed: 512,
  },
];

const inFlight = new Map<string, Promise<void>>();

async function ensureGenerated(spec: GeneratedSpec, file: string): Promise<void> {
  try {
    if ((await stat(file)).size > 0) return;
  } catch {
    // not there yet
  }
  let pending = inFlight.get(file);
  if (!pending) {
    pending = (async () => {
      await mkdir(path.dirname(file), { recursive: true });
      const pages = Array.from({ length: spec.pages }, (_, k) =>
        syntheticTexture(spec.width, spec.height, spec.seed + k, 16),
      );
      const bytes = encodeGreyTiff(pages);
      // write then rename: concurrent processes never see a half-written file
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      try {
        await writeFile(tmp, bytes);
        await rename(tmp, file);
      } finally {
        await rm(tmp, { force: true });
      }
    })().finally(() => inFlight.delete(file));
    inFlight.set(file, pending);
  }
  return pending;
}

export interface SampleImagesOptions {
  /** Generate missing synthetic samples (default true); with false they are listed only if already cached. */
  generate?: boolean;
  /** Only these names (e.g. ['brick', 'grass']): avoids generating big images when not needed. */
  only?: readonly string[];
  cacheDir?: string;
}

/** Sample images for templates: name, absolute path, description. Generates the big ones on first use. */
export async function sampleImages(options: SampleImagesOptions = {}): Promise<SampleImage[]> {
  const wanted = (name: string) => !options.only || options.only.includes(name);
  const assets = assetsDirectory();
  const out: SampleImage[] = [];
  if (wanted('brick'))
    out.push({
      name: 'brick',
      path: path.join(assets, 'brick.png'),
      description: 'brick wall, 512 x 512, 8-bit grey PNG (scikit-image sample data, CC0)',
      width: 512,
      height: 512,
      bitDepth: 8,
      pages: 1,
      origin: 'asset',
    });
  if (wanted('grass'))
    out.push({
      name: 'grass',
      path: path.join(assets, 'grass.png'),
      description: 'grass, 512 x 512, 8-bit grey PNG (scikit-image sample data, CC0)',
      width: 512,
      height: 512,
      bitDepth: 8,
      pages: 1,
      origin: 'asset',
    });
  const cache = options.cacheDir ?? cacheDirectory();
  for (const spec of GENERATED) {
    if (!wanted(spec.name)) continue;
    const file = path.join(cache, `${spec.name}.v${GENERATOR_VERSION}.tif`);
    if (options.generate === false && !existsSync(file)) continue;
    await ensureGenerated(spec, file);
    out.push({
      name: spec.name,
      path: file,
      description: spec.description,
      width: spec.width,
      height: spec.height,
      bitDepth: 16,
      pages: spec.pages,
      origin: 'generated',
    });
  }
  return out;
}
