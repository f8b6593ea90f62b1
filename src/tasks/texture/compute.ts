/**
 * The texture computation: requantize, count pairs per offset, derive features — whole image and,
 * optionally, per tile. Written as generators that yield a progress fraction after every small
 * block of work (a millisecond or less), so one code path serves a synchronous driver (runSync) and a
 * cooperative one (runCooperative) that yields to the event loop, checks an AbortSignal and
 * reports progress at least every `yieldEveryMs` of compute.
 *
 * Memory: besides the image, one requantized copy (none for 8-bit input at levels <= 256), one
 * levels x levels Uint32Array of counts reused for every offset and tile, for small tiles a list of
 * touched cells (at most one tile's pixel count), and the results.
 */
import { setImmediate as yieldMacrotask } from 'node:timers/promises';
import { abortErrorFor } from './errors.js';
import {
  DENSE_BLOCK,
  SUMS_LENGTH,
  countPairs,
  countPairs2,
  countPairs4,
  countPairs8,
  countPairsLane,
  countPairsTracked,
  denseSumsAndClear,
  featuresFromSums,
  glcmOffsets,
  pairRange,
  sparseSumsAndClear,
  toFeatureTable,
  type PairRange,
  type PixelOffset,
} from './glcm.js';
import { resolveOptions, validateTile } from './options.js';
import { allocateQuantized, quantizationTable, requantizeRows, type QuantizedData } from './quantize.js';
import {
  FEATURE_COUNT,
  type FeatureName,
  type FeatureTable,
  type GreyImage,
  type ResolvedTextureOptions,
  type RunControl,
  type TextureOptions,
  FEATURE_NAMES,
} from './types.js';

/** Pixels (or matrix cells) per generator step: small enough that a step takes well under a millisecond or two. */
const STEP_UNITS = 1 << 17;

export interface TextureResult {
  width: number;
  height: number;
  bitDepth: number;
  levels: number;
  distances: number[];
  /** Radians. */
  angles: number[];
  symmetric: boolean;
  /** Each feature as [distance][angle]. */
  features: FeatureTable;
}

export interface TileRect {
  col: number;
  row: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface TileMaps {
  tileSize: number;
  /** Tiles across and down; the last column/row may be narrower when the size does not divide the image. */
  cols: number;
  rows: number;
  nDistances: number;
  nAngles: number;
  /** Flattened [tile][offset][feature], tile = row * cols + col, offset = d * nAngles + a. */
  values: Float64Array;
}

export interface TextureComputeOptions extends TextureOptions {
  /** Also compute features per tile of this many pixels square. */
  tile?: number;
  /** @internal force the dense or sparse accumulation (tests compare both). */
  accumulation?: 'auto' | 'dense' | 'sparse';
}

export interface TextureComputation extends TextureResult {
  tiles?: TileMaps;
}

export function tileRect(
  maps: Pick<TileMaps, 'tileSize' | 'cols'>,
  width: number,
  height: number,
  index: number,
): TileRect {
  const col = index % maps.cols;
  const row = Math.floor(index / maps.cols);
  const x = col * maps.tileSize;
  const y = row * maps.tileSize;
  return { col, row, x, y, width: Math.min(maps.tileSize, width - x), height: Math.min(maps.tileSize, height - y) };
}

/** One feature of the tile maps as a cols x rows grid (row-major), for distance index d and angle index a (or the mean over angles when a is 'mean'). */
export function tileFeatureGrid(maps: TileMaps, feature: FeatureName, d: number, a: number | 'mean'): Float64Array {
  const f = FEATURE_NAMES.indexOf(feature);
  const nOff = maps.nDistances * maps.nAngles;
  const grid = new Float64Array(maps.cols * maps.rows);
  for (let t = 0; t < grid.length; t++) {
    const base = t * nOff * FEATURE_COUNT;
    if (a === 'mean') {
      let sum = 0;
      for (let k = 0; k < maps.nAngles; k++) sum += maps.values[base + (d * maps.nAngles + k) * FEATURE_COUNT + f];
      grid[t] = sum / maps.nAngles;
    } else {
      grid[t] = maps.values[base + (d * maps.nAngles + a) * FEATURE_COUNT + f];
    }
  }
  return grid;
}

/** Per-tile features as a FeatureTable ([distance][angle] per feature). */
export function tileFeatures(maps: TileMaps, index: number): FeatureTable {
  return toFeatureTable(
    maps.values,
    maps.nDistances,
    maps.nAngles,
    index * maps.nDistances * maps.nAngles * FEATURE_COUNT,
  );
}

export function validateImage(image: GreyImage): void {
  if (typeof image !== 'object' || image === null)
    throw new TypeError(
      `image must be an object {width, height, bitDepth, data}, got ${image === null ? 'null' : typeof image}`,
    );
  const { width, height, bitDepth, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image width and height must be positive integers, got ${width} x ${height}`);
  }
  if (![1, 2, 4, 8, 16].includes(bitDepth))
    throw new RangeError(`image bitDepth must be 1, 2, 4, 8 or 16, got ${bitDepth}`);
  if (bitDepth === 16 ? !(data instanceof Uint16Array) : !(data instanceof Uint8Array)) {
    throw new TypeError(
      `image data must be a ${bitDepth === 16 ? 'Uint16Array' : 'Uint8Array'} for bit depth ${bitDepth}`,
    );
  }
  if (data.length !== width * height) {
    throw new RangeError(`image data has ${data.length} values, expected width * height = ${width * height}`);
  }
  if (bitDepth < 8) {
    const max = 2 ** bitDepth - 1;
    for (let k = 0; k < data.length; k++) {
      if (data[k] > max)
        throw new RangeError(
          `image value ${data[k]} at index ${k} exceeds ${max}, the maximum for bit depth ${bitDepth}`,
        );
    }
  }
}

interface Progress {
  done: number;
  total: number;
}

/** Requantize row blocks, yielding between them. */
function* quantizeSteps(image: GreyImage, levels: number, progress: Progress): Generator<number, QuantizedData> {
  const q = allocateQuantized(image, levels);
  if (q === image.data) return q;
  const lut = quantizationTable(image.bitDepth, levels);
  const rowsPerStep = Math.max(1, Math.floor(STEP_UNITS / image.width));
  for (let r = 0; r < image.height; r += rowsPerStep) {
    const r1 = Math.min(image.height, r + rowsPerStep);
    requantizeRows(image, levels, q, r, r1, lut);
    progress.done += (r1 - r) * image.width;
    yield progress.done / progress.total;
  }
  return q;
}

/** requantize: false — use the values as they are, checking they lie below levels. */
function* checkedSteps(image: GreyImage, levels: number, progress: Progress): Generator<number, QuantizedData> {
  const src = image.data;
  const rowsPerStep = Math.max(1, Math.floor(STEP_UNITS / image.width));
  for (let r = 0; r < image.height; r += rowsPerStep) {
    const to = Math.min(image.height, r + rowsPerStep) * image.width;
    for (let k = r * image.width; k < to; k++) {
      if (src[k] >= levels) {
        throw new RangeError(
          `with requantize: false every value must be below levels (${levels}); found ${src[k]} at row ${Math.floor(k / image.width)}, column ${k % image.width}`,
        );
      }
    }
    progress.done += to - r * image.width;
    yield progress.done / progress.total;
  }
  if (levels <= 256 && !(src instanceof Uint8Array)) return Uint8Array.from(src);
  return src;
}

interface Scratch {
  /**
   * Counts: G x levels x levels, G = the fused offsets (up to FUSE when levels <= FUSE_MAX_LEVELS,
   * else 1). A fused set of s offsets uses it interleaved with stride s; the sparse path uses its
   * first levels x levels cells plainly. Always all zero between uses (the sums clear it).
   */
  table: Uint32Array;
  /** How many offsets may be fused. */
  fuse: number;
  touched: Uint32Array | null;
  sums: Float64Array;
}

/** Offsets counted together in one pass (countPairs8/4/2), when their tables fit in cache (levels <= 256: 8 x 256 KiB). */
const FUSE = 8;
const FUSE_MAX_LEVELS = 256;

type Range = PairRange;

function isEmpty(r: Range): boolean {
  return r.rowEnd <= r.rowStart || r.colEnd <= r.colStart;
}

/** R minus F (F inside R, or empty) as up to four rectangles. */
function leftovers(R: Range, F: Range): Range[] {
  if (isEmpty(R)) return [];
  if (isEmpty(F)) return [R];
  const out: Range[] = [
    { rowStart: R.rowStart, rowEnd: F.rowStart, colStart: R.colStart, colEnd: R.colEnd },
    { rowStart: F.rowEnd, rowEnd: R.rowEnd, colStart: R.colStart, colEnd: R.colEnd },
    { rowStart: F.rowStart, rowEnd: F.rowEnd, colStart: R.colStart, colEnd: F.colStart },
    { rowStart: F.rowStart, rowEnd: F.rowEnd, colStart: F.colEnd, colEnd: R.colEnd },
  ];
  return out.filter((r) => !isEmpty(r));
}

/** Split offset indices into fused sets of 8, then 4, 2, 1. */
function fusedSets(count: number, fuse: number): number[][] {
  const sets: number[][] = [];
  let k = 0;
  while (k < count) {
    const left = count - k;
    const size = fuse >= 8 && left >= 8 ? 8 : fuse >= 4 && left >= 4 ? 4 : fuse >= 2 && left >= 2 ? 2 : 1;
    sets.push(Array.from({ length: size }, (_, j) => k + j));
    k += size;
  }
  return sets;
}

/**
 * Features of every offset for the rectangle [x0, x1) x [y0, y1), pairs counted only when both
 * pixels lie inside it (as graycomatrix on that crop). Writes nOffsets x 10 values at out[at..].
 * 'dense' counts into full tables (up to eight offsets fused in one pass, interleaved in one table,
 * when levels <= 256) and sums the whole tables; 'sparse' (small tiles) tracks the touched cells
 * and sums and clears only those.
 */
function* rectSteps(
  q: QuantizedData,
  width: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  offsets: readonly PixelOffset[],
  opts: ResolvedTextureOptions,
  mode: 'dense' | 'sparse',
  scratch: Scratch,
  out: Float64Array,
  at: number,
  progress: Progress,
): Generator<number, void> {
  const L = opts.levels;
  const area = (x1 - x0) * (y1 - y0);
  const rw = x1 - x0;
  const { sums, table } = scratch;
  const ranges = offsets.map((off) => pairRange(x0, y0, x1, y1, off));

  if (mode === 'sparse') {
    let pending = 0;
    const rowsPerStep = Math.max(1, Math.floor(STEP_UNITS / rw));
    const counts = table;
    const touched = scratch.touched!;
    for (let o = 0; o < offsets.length; o++) {
      const off = offsets[o];
      const pr = ranges[o];
      let nTouched = 0;
      for (let r = pr.rowStart; r < pr.rowEnd; r += rowsPerStep) {
        const r1 = Math.min(pr.rowEnd, r + rowsPerStep);
        nTouched = countPairsTracked(
          q,
          width,
          L,
          off.dr,
          off.dc,
          r,
          r1,
          pr.colStart,
          pr.colEnd,
          counts,
          touched,
          nTouched,
        );
        if (r1 < pr.rowEnd) yield progress.done / progress.total;
      }
      sparseSumsAndClear(counts, L, touched, nTouched, opts.symmetric, sums);
      featuresFromSums(sums, out, at + o * FEATURE_COUNT);
      progress.done += area;
      // small tiles: a step per offset would be too fine; yield once the work adds up
      pending += area;
      if (pending >= STEP_UNITS) {
        pending = 0;
        yield progress.done / progress.total;
      }
    }
    if (pending > 0) yield progress.done / progress.total;
    return;
  }

  const fuse = scratch.fuse;
  const rowsPerSum = Math.max(DENSE_BLOCK, Math.floor(STEP_UNITS / L / DENSE_BLOCK) * DENSE_BLOCK);
  for (const set of fusedSets(offsets.length, fuse)) {
    const setRanges = set.map((o) => ranges[o]);
    const fused: Range = {
      rowStart: Math.max(...setRanges.map((r) => r.rowStart)),
      rowEnd: Math.min(...setRanges.map((r) => r.rowEnd)),
      colStart: Math.max(...setRanges.map((r) => r.colStart)),
      colEnd: Math.min(...setRanges.map((r) => r.colEnd)),
    };
    const deltas = Int32Array.from(set, (o) => offsets[o].dr * width + offsets[o].dc);
    const G = set.length;
    // the fused core: every offset of the set has its neighbour inside the rectangle
    if (!isEmpty(fused)) {
      const fw = fused.colEnd - fused.colStart;
      const rowsPerStep = Math.max(1, Math.floor(STEP_UNITS / (fw * set.length)));
      for (let r = fused.rowStart; r < fused.rowEnd; r += rowsPerStep) {
        const r1 = Math.min(fused.rowEnd, r + rowsPerStep);
        if (G === 8) countPairs8(q, width, L, deltas, r, r1, fused.colStart, fused.colEnd, table);
        else if (G === 4) countPairs4(q, width, L, deltas, r, r1, fused.colStart, fused.colEnd, table);
        else if (G === 2) countPairs2(q, width, L, deltas, r, r1, fused.colStart, fused.colEnd, table);
        else
          countPairs(q, width, L, offsets[set[0]].dr, offsets[set[0]].dc, r, r1, fused.colStart, fused.colEnd, table);
        progress.done += (r1 - r) * fw * set.length;
        yield progress.done / progress.total;
      }
    }
    // the borders, offset by offset
    for (let k = 0; k < set.length; k++) {
      const off = offsets[set[k]];
      for (const rest of set.length === 1 ? [] : leftovers(setRanges[k], fused)) {
        const w = rest.colEnd - rest.colStart;
        const rowsPerStep = Math.max(1, Math.floor(STEP_UNITS / w));
        for (let r = rest.rowStart; r < rest.rowEnd; r += rowsPerStep) {
          const r1 = Math.min(rest.rowEnd, r + rowsPerStep);
          countPairsLane(q, width, L, off.dr, off.dc, r, r1, rest.colStart, rest.colEnd, table, G, k);
          progress.done += (r1 - r) * w;
          yield progress.done / progress.total;
        }
      }
    }
    // sums and features, table by table (a 4096-level table is 16M cells: summed in row blocks)
    for (let k = 0; k < set.length; k++) {
      sums.fill(0);
      for (let i = 0; i < L; i += rowsPerSum) {
        denseSumsAndClear(table, L, opts.symmetric, i, Math.min(L, i + rowsPerSum), sums, G, k);
        if (i + rowsPerSum < L) yield progress.done / progress.total;
      }
      featuresFromSums(sums, out, at + set[k] * FEATURE_COUNT);
    }
  }
  // top up to the nominal amount (pairs are fewer than pixels at the borders)
  const counted = ranges.reduce(
    (sum, r) => sum + (isEmpty(r) ? 0 : (r.rowEnd - r.rowStart) * (r.colEnd - r.colStart)),
    0,
  );
  progress.done += Math.max(0, area * offsets.length - counted);
  yield progress.done / progress.total;
}

function chooseMode(area: number, levels: number, forced: TextureComputeOptions['accumulation']): 'dense' | 'sparse' {
  if (forced === 'dense' || forced === 'sparse') return forced;
  return area >= levels * levels ? 'dense' : 'sparse';
}

/** The whole computation as a generator of progress fractions. */
export function* textureSteps(
  image: GreyImage,
  options: TextureComputeOptions = {},
): Generator<number, TextureComputation> {
  validateImage(image);
  const opts = resolveOptions(options);
  const tile = options.tile === undefined ? undefined : validateTile(options.tile);
  const forced = options.accumulation ?? 'auto';
  const { width, height } = image;
  const offsets = glcmOffsets(opts.distances, opts.angles);
  const nOff = offsets.length;
  const L = opts.levels;
  const area = width * height;

  let cols = 0,
    rows = 0;
  if (tile !== undefined) {
    cols = Math.ceil(width / tile);
    rows = Math.ceil(height / tile);
  }
  const progress: Progress = {
    done: 0,
    total: Math.max(1, area /* requantize */ + area * nOff * (tile === undefined ? 1 : 2)),
  };
  let q: QuantizedData;
  if (opts.requantize) {
    q = yield* quantizeSteps(image, L, progress);
    if (q === image.data) progress.done += area;
  } else {
    q = yield* checkedSteps(image, L, progress);
  }

  const wholeMode = chooseMode(area, L, forced);
  const tileArea = tile === undefined ? 0 : Math.min(tile, width) * Math.min(tile, height);
  const tileMode = tile === undefined ? 'dense' : chooseMode(tileArea, L, forced);
  // edge tiles can be smaller (sparse) even when full tiles are dense
  const needTouched = wholeMode === 'sparse' || tile !== undefined;
  const fuse =
    L <= FUSE_MAX_LEVELS && (wholeMode === 'dense' || (tile !== undefined && tileMode === 'dense'))
      ? Math.min(FUSE, nOff)
      : 1;
  const scratch: Scratch = {
    table: new Uint32Array(fuse * L * L),
    fuse,
    touched: needTouched
      ? new Uint32Array(Math.min(L * L, Math.max(wholeMode === 'sparse' ? area : 0, tileArea)))
      : null,
    sums: new Float64Array(SUMS_LENGTH),
  };

  const whole = new Float64Array(nOff * FEATURE_COUNT);
  yield* rectSteps(q, width, 0, 0, width, height, offsets, opts, wholeMode, scratch, whole, 0, progress);

  let tiles: TileMaps | undefined;
  if (tile !== undefined) {
    const values = new Float64Array(cols * rows * nOff * FEATURE_COUNT);
    for (let t = 0; t < cols * rows; t++) {
      const rect = tileRect({ tileSize: tile, cols }, width, height, t);
      const mode = chooseMode(rect.width * rect.height, L, forced);
      yield* rectSteps(
        q,
        width,
        rect.x,
        rect.y,
        rect.x + rect.width,
        rect.y + rect.height,
        offsets,
        opts,
        mode,
        scratch,
        values,
        t * nOff * FEATURE_COUNT,
        progress,
      );
    }
    tiles = { tileSize: tile, cols, rows, nDistances: opts.distances.length, nAngles: opts.angles.length, values };
  }
  return {
    width,
    height,
    bitDepth: image.bitDepth,
    levels: L,
    distances: opts.distances,
    angles: opts.angles,
    symmetric: opts.symmetric,
    features: toFeatureTable(whole, opts.distances.length, opts.angles.length),
    ...(tiles ? { tiles } : {}),
  };
}

/** Drive a step generator to completion without yielding (for small images, tests, benchmarks). */
export function runSync<T>(steps: Generator<number, T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/**
 * Drive a step generator cooperatively: after every `yieldEveryMs` of compute (default 5 ms) it
 * awaits a macrotask (setImmediate) so timers and IPC messages run, then checks the signal
 * (throwing an AbortError) and reports progress.
 */
export async function runCooperative<T>(
  steps: Generator<number, T>,
  control: RunControl = {},
  what = 'texture analysis',
): Promise<T> {
  const { signal, onProgress } = control;
  const budget = control.yieldEveryMs ?? 5;
  if (signal?.aborted) throw abortErrorFor(signal, what);
  let last = performance.now();
  try {
    for (;;) {
      const next = steps.next();
      if (next.done) {
        onProgress?.(1);
        return next.value;
      }
      if (performance.now() - last >= budget) {
        await yieldMacrotask();
        if (signal?.aborted) throw abortErrorFor(signal, what);
        onProgress?.(Math.min(1, Math.max(0, next.value)));
        last = performance.now();
      }
    }
  } finally {
    steps.return(undefined as T);
  }
}

/** Features of a whole image, synchronously. */
export function textureFeatures(image: GreyImage, options: TextureOptions = {}): TextureResult {
  const { tiles: _ignored, ...result } = runSync(textureSteps(image, { ...options, tile: undefined }));
  return result;
}

/** Features of a whole image (and per tile with options.tile), cooperatively: abortable, with progress. */
export function computeTexture(
  image: GreyImage,
  options: TextureComputeOptions = {},
  control: RunControl = {},
): Promise<TextureComputation> {
  return runCooperative(textureSteps(image, options), control);
}
