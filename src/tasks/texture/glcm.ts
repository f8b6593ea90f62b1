/**
 * Grey-level co-occurrence matrices with scikit-image's definitions, and their features.
 *
 * Offsets: for angle a (radians) and distance d, the neighbour of pixel (r, c) is
 * (r + round(sin(a) * d), c + round(cos(a) * d)) — angle 0 is the right neighbour, pi/2 the one
 * BELOW (rows grow downwards), pi/4 down-right, 3pi/4 down-left. round() is scikit-image's own
 * (skimage/_shared/interpolation.pxd, used by its Cython loop): add 0.5 (subtract it for r <= 0) in
 * float64, then truncate toward zero. That is not C's round(): sin(30°) = 0.49999999999999994 and
 * 0.49999999999999994 + 0.5 rounds to 1.0 in float64, so the offset is 1 where C's round() gives 0.
 * matrix[i][j] counts reference level i with neighbour j.
 *
 * The fast path never materialises normalised matrices: it accumulates integer counts in one
 * Uint32Array per offset and derives all features from exact integer sums (see featuresFromSums).
 */
import { FEATURE_COUNT, type FeatureTable, FEATURE_NAMES } from './types.js';
import type { QuantizedData } from './quantize.js';

/** C round(): half away from zero. (Not what scikit-image's GLCM uses: see skimageRound.) */
export function roundHalfAwayFromZero(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * scikit-image's `round` (skimage/_shared/interpolation.pxd), which its GLCM loop applies to
 * sin(angle) * distance and cos(angle) * distance: `<Py_ssize_t>((r + 0.5) if (r > 0.0) else (r - 0.5))`.
 * The addition is a float64 one (JavaScript's too), so 0.49999999999999994 gives 1, not 0.
 */
export function skimageRound(r: number): number {
  return Math.trunc(r > 0 ? r + 0.5 : r - 0.5) + 0;
}

export interface PixelOffset {
  /** Row offset: positive = down. */
  dr: number;
  /** Column offset: positive = right. */
  dc: number;
}

export function glcmOffset(distance: number, angle: number): PixelOffset {
  // `+ 0` turns -0 into 0.
  return { dr: skimageRound(Math.sin(angle) * distance), dc: skimageRound(Math.cos(angle) * distance) };
}

/** Offsets in [distance][angle] order, flattened: index d * angles.length + a. */
export function glcmOffsets(distances: readonly number[], angles: readonly number[]): PixelOffset[] {
  const out: PixelOffset[] = [];
  for (const d of distances) for (const a of angles) out.push(glcmOffset(d, a));
  return out;
}

/** The reference rows/columns whose neighbour at (dr, dc) lies inside the rectangle [x0, x1) x [y0, y1). */
export interface PairRange {
  rowStart: number;
  rowEnd: number;
  colStart: number;
  colEnd: number;
}

export function pairRange(x0: number, y0: number, x1: number, y1: number, off: PixelOffset): PairRange {
  return {
    rowStart: y0 + Math.max(0, -off.dr),
    rowEnd: y1 - Math.max(0, off.dr),
    colStart: x0 + Math.max(0, -off.dc),
    colEnd: x1 - Math.max(0, off.dc),
  };
}

/**
 * Count pairs for one offset, reference rows [r0, r1) and columns [c0, c1) (already clamped so the
 * neighbours are valid). counts is levels x levels, row-major. No allocation.
 */
export function countPairs(
  q: QuantizedData,
  width: number,
  levels: number,
  dr: number,
  dc: number,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  counts: Uint32Array,
): void {
  countPairsLane(q, width, levels, dr, dc, r0, r1, c0, c1, counts, 1, 0);
}

/**
 * The fused kernels count pairs for several offsets in one pass (one read of the reference pixel,
 * independent increments) into ONE table with the offsets interleaved: the count of offset k for
 * levels (i, j) is at (i * levels + j) * G + k, G the number of offsets. Fewer base registers and
 * bounds checks than G separate tables, and neighbouring cells share cache lines: about a third
 * faster than separate tables, which are in turn faster than one pass per offset. deltas are the
 * offsets as flat index deltas (dr * width + dc); every neighbour must be valid for the range.
 */
export function countPairs8(
  q: QuantizedData,
  width: number,
  levels: number,
  deltas: Int32Array,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  t: Uint32Array,
): void {
  if (r1 <= r0 || c1 <= c0) return;
  const span = c1 - c0;
  const d0 = deltas[0],
    d1 = deltas[1],
    d2 = deltas[2],
    d3 = deltas[3],
    d4 = deltas[4],
    d5 = deltas[5],
    d6 = deltas[6],
    d7 = deltas[7];
  const rowStride = levels * 8;
  for (let r = r0; r < r1; r++) {
    let a = r * width + c0;
    const end = a + span;
    for (; a < end; a++) {
      const i = q[a] * rowStride;
      t[i + (q[a + d0] << 3)]++;
      t[i + (q[a + d1] << 3) + 1]++;
      t[i + (q[a + d2] << 3) + 2]++;
      t[i + (q[a + d3] << 3) + 3]++;
      t[i + (q[a + d4] << 3) + 4]++;
      t[i + (q[a + d5] << 3) + 5]++;
      t[i + (q[a + d6] << 3) + 6]++;
      t[i + (q[a + d7] << 3) + 7]++;
    }
  }
}

/** Four offsets at once, interleaved G = 4; see countPairs8. */
export function countPairs4(
  q: QuantizedData,
  width: number,
  levels: number,
  deltas: Int32Array,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  t: Uint32Array,
): void {
  if (r1 <= r0 || c1 <= c0) return;
  const span = c1 - c0;
  const d0 = deltas[0],
    d1 = deltas[1],
    d2 = deltas[2],
    d3 = deltas[3];
  const rowStride = levels * 4;
  for (let r = r0; r < r1; r++) {
    let a = r * width + c0;
    const end = a + span;
    for (; a < end; a++) {
      const i = q[a] * rowStride;
      t[i + (q[a + d0] << 2)]++;
      t[i + (q[a + d1] << 2) + 1]++;
      t[i + (q[a + d2] << 2) + 2]++;
      t[i + (q[a + d3] << 2) + 3]++;
    }
  }
}

/** Two offsets at once, interleaved G = 2; see countPairs8. */
export function countPairs2(
  q: QuantizedData,
  width: number,
  levels: number,
  deltas: Int32Array,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  t: Uint32Array,
): void {
  if (r1 <= r0 || c1 <= c0) return;
  const span = c1 - c0;
  const d0 = deltas[0],
    d1 = deltas[1];
  const rowStride = levels * 2;
  for (let r = r0; r < r1; r++) {
    let a = r * width + c0;
    const end = a + span;
    for (; a < end; a++) {
      const i = q[a] * rowStride;
      t[i + (q[a + d0] << 1)]++;
      t[i + (q[a + d1] << 1) + 1]++;
    }
  }
}

/** One offset into lane `lane` of a table interleaved with stride G (the borders of a fused set). */
export function countPairsLane(
  q: QuantizedData,
  width: number,
  levels: number,
  dr: number,
  dc: number,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  t: Uint32Array,
  stride: number,
  lane: number,
): void {
  if (r1 <= r0 || c1 <= c0) return;
  const delta = dr * width + dc;
  const span = c1 - c0;
  for (let r = r0; r < r1; r++) {
    let a = r * width + c0;
    const end = a + span;
    for (; a < end; a++) t[(q[a] * levels + q[a + delta]) * stride + lane]++;
  }
}

/** Like countPairs, also listing each cell that goes from 0 to 1 in touched; returns the new list length. */
export function countPairsTracked(
  q: QuantizedData,
  width: number,
  levels: number,
  dr: number,
  dc: number,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  counts: Uint32Array,
  touched: Uint32Array,
  nTouched: number,
): number {
  if (r1 <= r0 || c1 <= c0) return nTouched;
  const delta = dr * width + dc;
  const span = c1 - c0;
  let n = nTouched;
  for (let r = r0; r < r1; r++) {
    let a = r * width + c0;
    const end = a + span;
    for (; a < end; a++) {
      const k = q[a] * levels + q[a + delta];
      if (counts[k]++ === 0) touched[n++] = k;
    }
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Integer sums of a (possibly symmetrised) count matrix S, from which every feature follows.

/** Indices into a sums vector. */
const N = 0,
  SD2 = 1,
  SAD = 2,
  SHOM = 3,
  SSQ = 4,
  SVLNV = 5,
  SI = 6,
  SJ = 7,
  SII = 8,
  SJJ = 9,
  SIJ = 10,
  NNZ = 11;
export const SUMS_LENGTH = 12;

const homogeneityCache = new Map<number, Float64Array>();
/** 1 / (1 + d^2) for d in [0, levels). */
function homogeneityWeights(levels: number): Float64Array {
  let w = homogeneityCache.get(levels);
  if (!w) {
    w = new Float64Array(levels);
    for (let d = 0; d < levels; d++) w[d] = 1 / (1 + d * d);
    homogeneityCache.set(levels, w);
  }
  return w;
}

const VLNV_TABLE_SIZE = 1 << 14;
let vlnvTable: Float64Array | null = null;
/** v * ln(v) for small integers (0 ln 0 = 0). */
function vlnv(): Float64Array {
  if (!vlnvTable) {
    vlnvTable = new Float64Array(VLNV_TABLE_SIZE);
    for (let v = 1; v < VLNV_TABLE_SIZE; v++) vlnvTable[v] = v * Math.log(v);
  }
  return vlnvTable;
}

/**
 * Accumulate into sums (which the caller zeroes first) the sums of a dense count matrix over
 * reference rows [i0, i1), clearing the cells it reads. With symmetric the sums are those of
 * S = C + C^T: the upper triangle is walked in 64 x 64 blocks (so the transposed reads stay in
 * cache) and i0 must then be a multiple of DENSE_BLOCK. Calling it over [0, levels) in any
 * number of row ranges gives the whole matrix and leaves counts all zero.
 */
export const DENSE_BLOCK = 64;
/** The table may be interleaved: lane `lane` of stride G (stride 1, lane 0: a plain table). */
export function denseSumsAndClear(
  counts: Uint32Array,
  levels: number,
  symmetric: boolean,
  i0: number,
  i1: number,
  sums: Float64Array,
  stride = 1,
  lane = 0,
): void {
  const L = levels;
  const hom = homogeneityWeights(L);
  const tab = vlnv();
  let n = 0,
    sd2 = 0,
    sad = 0,
    shom = 0,
    ssq = 0,
    svlnv = 0,
    si = 0,
    sj = 0,
    sii = 0,
    sjj = 0,
    sij = 0,
    nnz = 0;
  if (!symmetric) {
    for (let i = i0; i < i1; i++) {
      const base = i * L;
      for (let j = 0; j < L; j++) {
        const v = counts[(base + j) * stride + lane];
        if (v === 0) continue;
        counts[(base + j) * stride + lane] = 0;
        const d = i - j;
        const ad = d < 0 ? -d : d;
        nnz++;
        n += v;
        sd2 += v * d * d;
        sad += v * ad;
        shom += v * hom[ad];
        ssq += v * v;
        svlnv += v < VLNV_TABLE_SIZE ? tab[v] : v * Math.log(v);
        si += v * i;
        sj += v * j;
        sii += v * i * i;
        sjj += v * j * j;
        sij += v * i * j;
      }
    }
  } else {
    const B = DENSE_BLOCK;
    for (let bi = i0; bi < i1; bi += B) {
      const iEnd = Math.min(i1, bi + B);
      for (let bj = bi; bj < L; bj += B) {
        const jEnd = Math.min(L, bj + B);
        for (let i = bi; i < iEnd; i++) {
          const base = i * L;
          let j = bj;
          if (bj === bi) {
            // the diagonal cell of this row: S_ii = 2 C_ii
            const c = counts[(base + i) * stride + lane];
            if (c !== 0) {
              counts[(base + i) * stride + lane] = 0;
              const s = 2 * c;
              nnz++;
              n += s;
              shom += s; // weight 1 / (1 + 0)
              ssq += s * s;
              svlnv += s < VLNV_TABLE_SIZE ? tab[s] : s * Math.log(s);
              const ii = s * i;
              si += ii;
              sj += ii;
              sii += ii * i;
              sjj += ii * i;
              sij += ii * i;
            }
            j = i + 1;
          }
          for (; j < jEnd; j++) {
            const kij = (base + j) * stride + lane;
            const kt = (j * L + i) * stride + lane;
            const s = counts[kij] + counts[kt];
            if (s === 0) continue;
            counts[kij] = 0;
            counts[kt] = 0;
            // S_ij = S_ji = s: two cells of S
            const d = j - i;
            const s2 = 2 * s;
            nnz += 2;
            n += s2;
            sd2 += s2 * d * d;
            sad += s2 * d;
            shom += s2 * hom[d];
            ssq += s2 * s;
            svlnv += 2 * (s < VLNV_TABLE_SIZE ? tab[s] : s * Math.log(s));
            const ipj = s * (i + j);
            si += ipj;
            sj += ipj;
            const sq = s * (i * i + j * j);
            sii += sq;
            sjj += sq;
            sij += s2 * i * j;
          }
        }
      }
    }
  }
  sums[N] += n;
  sums[SD2] += sd2;
  sums[SAD] += sad;
  sums[SHOM] += shom;
  sums[SSQ] += ssq;
  sums[SVLNV] += svlnv;
  sums[SI] += si;
  sums[SJ] += sj;
  sums[SII] += sii;
  sums[SJJ] += sjj;
  sums[SIJ] += sij;
  sums[NNZ] += nnz;
}

/**
 * Sums over the cells listed in touched (every non-zero cell of C appears exactly once), then
 * clears those cells so counts is all zero again. With symmetric, the sums are those of C + C^T.
 */
export function sparseSumsAndClear(
  counts: Uint32Array,
  levels: number,
  touched: Uint32Array,
  nTouched: number,
  symmetric: boolean,
  sums: Float64Array,
): Float64Array {
  const L = levels;
  const hom = homogeneityWeights(L);
  const tab = vlnv();
  let n = 0,
    sd2 = 0,
    sad = 0,
    shom = 0,
    ssq = 0,
    svlnv = 0,
    si = 0,
    sj = 0,
    sii = 0,
    sjj = 0,
    sij = 0,
    nnz = 0;
  for (let t = 0; t < nTouched; t++) {
    const k = touched[t];
    const i = (k / L) | 0;
    const j = k - i * L;
    let s: number;
    let cells: number; // how many cells of S carry the value s (1 on the diagonal or when not symmetric, else 2)
    if (!symmetric) {
      s = counts[k];
      cells = 1;
    } else if (i === j) {
      s = 2 * counts[k];
      cells = 1;
    } else {
      const kt = j * L + i;
      if (i < j) s = counts[k] + counts[kt];
      else if (counts[kt] === 0) s = counts[k];
      else continue; // the pair was handled from its (j, i) entry
      cells = 2;
    }
    const d = i - j;
    const ad = d < 0 ? -d : d;
    const w = cells * s;
    nnz += cells;
    n += w;
    sd2 += w * d * d;
    sad += w * ad;
    shom += w * hom[ad];
    ssq += w * s;
    svlnv += cells * (s < VLNV_TABLE_SIZE ? tab[s] : s * Math.log(s));
    if (cells === 1) {
      si += s * i;
      sj += s * j;
      sii += s * i * i;
      sjj += s * j * j;
      sij += s * i * j;
    } else {
      const ipj = i + j;
      const sq = i * i + j * j;
      si += s * ipj;
      sj += s * ipj;
      sii += s * sq;
      sjj += s * sq;
      sij += 2 * s * i * j;
    }
  }
  for (let t = 0; t < nTouched; t++) counts[touched[t]] = 0;
  sums[N] = n;
  sums[SD2] = sd2;
  sums[SAD] = sad;
  sums[SHOM] = shom;
  sums[SSQ] = ssq;
  sums[SVLNV] = svlnv;
  sums[SI] = si;
  sums[SJ] = sj;
  sums[SII] = sii;
  sums[SJJ] = sjj;
  sums[SIJ] = sij;
  sums[NNZ] = nnz;
  return sums;
}

/** a*b - c*d for non-negative integers held in doubles: exact (BigInt) when the products exceed 2^53. */
function exactDet(a: number, b: number, c: number, d: number): number {
  const ab = a * b;
  const cd = c * d;
  if (ab <= Number.MAX_SAFE_INTEGER && cd <= Number.MAX_SAFE_INTEGER) return ab - cd;
  return Number(BigInt(a) * BigInt(b) - BigInt(c) * BigInt(d));
}

/** Standard deviations below this count as zero for correlation (scikit-image's rule). */
export const STD_EPSILON = 1e-15;

/**
 * The ten features (FEATURE_NAMES order) from integer sums, written to out[at .. at + 10).
 * Normalising by the total N is implicit (p = v / N); an all-zero matrix gives zeros and correlation 1.
 */
export function featuresFromSums(sums: Float64Array, out: Float64Array, at: number): void {
  const n = sums[N];
  if (n === 0) {
    for (let f = 0; f < FEATURE_COUNT; f++) out[at + f] = 0;
    out[at + 5] = 1; // correlation
    return;
  }
  const nn = n * n;
  const asm = sums[NNZ] <= 1 ? 1 : sums[SSQ] / nn;
  const si = sums[SI],
    sj = sums[SJ];
  const varI = Math.max(0, exactDet(n, sums[SII], si, si)) / nn;
  const varJ = Math.max(0, exactDet(n, sums[SJJ], sj, sj)) / nn;
  const cov = exactDet(n, sums[SIJ], si, sj) / nn;
  const stdI = Math.sqrt(varI);
  const stdJ = Math.sqrt(varJ);
  // one non-zero cell: exactly 0 (ln N - N ln N / N can round to +-1e-16 otherwise)
  const entropy = sums[NNZ] <= 1 ? 0 : Math.log(n) - sums[SVLNV] / n;
  out[at] = sums[SD2] / n; // contrast
  out[at + 1] = sums[SAD] / n; // dissimilarity
  out[at + 2] = sums[SHOM] / n; // homogeneity
  out[at + 3] = asm; // ASM
  out[at + 4] = Math.sqrt(asm); // energy
  out[at + 5] = stdI < STD_EPSILON || stdJ < STD_EPSILON ? 1 : cov / (stdI * stdJ); // correlation
  out[at + 6] = si / n; // mean (of the reference level i)
  out[at + 7] = varI; // variance
  out[at + 8] = stdI; // std
  out[at + 9] = entropy > 0 ? entropy : 0; // entropy, natural log
}

/** Unflatten features stored [offset][feature] (offset = d * nAngles + a) into per-feature [d][a] tables. */
export function toFeatureTable(flat: Float64Array, nDistances: number, nAngles: number, at = 0): FeatureTable {
  const table = {} as FeatureTable;
  FEATURE_NAMES.forEach((name, f) => {
    const rows: number[][] = [];
    for (let d = 0; d < nDistances; d++) {
      const row: number[] = [];
      for (let a = 0; a < nAngles; a++) row.push(flat[at + (d * nAngles + a) * FEATURE_COUNT + f]);
      rows.push(row);
    }
    table[name] = rows;
  });
  return table;
}
