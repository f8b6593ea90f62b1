/**
 * scikit-image-shaped API: graycomatrix() returns the 4-D matrix P[i, j, d, a] and graycoprops()
 * computes a property from it with the same formulas as skimage.feature.graycoprops (float,
 * two-pass). These are straightforward on purpose: they are the reference the fast path
 * (analyzeTexture) is tested against, and useful to anyone who wants the matrices themselves.
 */
import { countPairs, glcmOffsets, pairRange } from './glcm.js';
import { STD_EPSILON } from './glcm.js';
import type { FeatureName } from './types.js';
import { FEATURE_NAMES } from './types.js';
import { validateAngles, validateDistances, validateLevels } from './options.js';

export interface GraycomatrixOptions {
  /** Default 256. Every value of the image must be below it. */
  levels?: number;
  /** Default false, as in scikit-image. */
  symmetric?: boolean;
  /** Default false, as in scikit-image. */
  normed?: boolean;
}

export interface Glcm {
  levels: number;
  nDistances: number;
  nAngles: number;
  /** P[i, j, d, a] at ((i * levels + j) * nDistances + d) * nAngles + a (numpy C order). */
  data: Float64Array;
  at(i: number, j: number, d: number, a: number): number;
  /** The levels x levels matrix for distance index d and angle index a, as nested arrays. */
  matrix(d: number, a: number): number[][];
}

export interface RasterLike {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/** Like skimage.feature.graycomatrix(image, distances, angles, levels, symmetric, normed). */
export function graycomatrix(
  image: RasterLike,
  distances: readonly number[],
  angles: readonly number[],
  options: GraycomatrixOptions = {},
): Glcm {
  const levels = validateLevels(options.levels ?? 256);
  const ds = validateDistances([...distances]);
  const as = validateAngles([...angles]);
  const { width, height } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image width and height must be positive integers, got ${width} x ${height}`);
  }
  if (image.data.length !== width * height) {
    throw new RangeError(`image data has ${image.data.length} values, expected width * height = ${width * height}`);
  }
  const q = levels <= 256 ? new Uint8Array(width * height) : new Uint16Array(width * height);
  for (let k = 0; k < q.length; k++) {
    const v = image.data[k];
    if (!Number.isInteger(v) || v < 0 || v >= levels) {
      throw new RangeError(
        `image values must be integers in [0, levels - 1] = [0, ${levels - 1}], found ${v} at index ${k}`,
      );
    }
    q[k] = v;
  }
  const nD = ds.length;
  const nA = as.length;
  const data = new Float64Array(levels * levels * nD * nA);
  const counts = new Uint32Array(levels * levels);
  const offsets = glcmOffsets(ds, as);
  offsets.forEach((off, o) => {
    const d = Math.floor(o / nA);
    const a = o % nA;
    counts.fill(0);
    const r = pairRange(0, 0, width, height, off);
    countPairs(q, width, levels, off.dr, off.dc, r.rowStart, r.rowEnd, r.colStart, r.colEnd, counts);
    let total = 0;
    for (let i = 0; i < levels; i++) {
      for (let j = 0; j < levels; j++) {
        const v = counts[i * levels + j] + (options.symmetric ? counts[j * levels + i] : 0);
        data[((i * levels + j) * nD + d) * nA + a] = v;
        total += v;
      }
    }
    if (options.normed && total > 0) {
      for (let i = 0; i < levels * levels; i++) data[i * nD * nA + d * nA + a] /= total;
    }
  });
  return {
    levels,
    nDistances: nD,
    nAngles: nA,
    data,
    at: (i, j, d, a) => data[((i * levels + j) * nD + d) * nA + a],
    matrix(d, a) {
      const m: number[][] = [];
      for (let i = 0; i < levels; i++) {
        const row: number[] = [];
        for (let j = 0; j < levels; j++) row.push(data[((i * levels + j) * nD + d) * nA + a]);
        m.push(row);
      }
      return m;
    },
  };
}

/** Like skimage.feature.graycoprops(P, prop), plus 'entropy' (natural log). Returns [distance][angle]. */
export function graycoprops(P: Glcm, prop: FeatureName): number[][] {
  if (!(FEATURE_NAMES as readonly string[]).includes(prop)) {
    throw new RangeError(`${String(prop)} is an invalid property; expected one of ${FEATURE_NAMES.join(', ')}`);
  }
  const L = P.levels;
  const out: number[][] = [];
  for (let d = 0; d < P.nDistances; d++) {
    const row: number[] = [];
    for (let a = 0; a < P.nAngles; a++) {
      // normalise each matrix (an all-zero matrix stays zero)
      let total = 0;
      for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) total += P.at(i, j, d, a);
      if (total === 0) total = 1;
      const p = (i: number, j: number): number => P.at(i, j, d, a) / total;
      let value = 0;
      switch (prop) {
        case 'contrast':
        case 'dissimilarity':
        case 'homogeneity':
          for (let i = 0; i < L; i++) {
            for (let j = 0; j < L; j++) {
              const diff = i - j;
              const w =
                prop === 'contrast' ? diff * diff : prop === 'dissimilarity' ? Math.abs(diff) : 1 / (1 + diff * diff);
              value += p(i, j) * w;
            }
          }
          break;
        case 'ASM':
        case 'energy':
          for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) value += p(i, j) ** 2;
          if (prop === 'energy') value = Math.sqrt(value);
          break;
        case 'mean':
        case 'variance':
        case 'std': {
          let mean = 0;
          for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) mean += i * p(i, j);
          if (prop === 'mean') {
            value = mean;
            break;
          }
          for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) value += p(i, j) * (i - mean) ** 2;
          if (prop === 'std') value = Math.sqrt(value);
          break;
        }
        case 'entropy':
          for (let i = 0; i < L; i++) {
            for (let j = 0; j < L; j++) {
              const v = p(i, j);
              if (v !== 0) value -= v * Math.log(v);
            }
          }
          break;
        case 'correlation': {
          let mi = 0,
            mj = 0;
          for (let i = 0; i < L; i++)
            for (let j = 0; j < L; j++) {
              mi += i * p(i, j);
              mj += j * p(i, j);
            }
          let vi = 0,
            vj = 0,
            cov = 0;
          for (let i = 0; i < L; i++) {
            for (let j = 0; j < L; j++) {
              const v = p(i, j);
              vi += v * (i - mi) ** 2;
              vj += v * (j - mj) ** 2;
              cov += v * (i - mi) * (j - mj);
            }
          }
          const si = Math.sqrt(vi),
            sj = Math.sqrt(vj);
          value = si < STD_EPSILON || sj < STD_EPSILON ? 1 : cov / (si * sj);
          break;
        }
      }
      row.push(value);
    }
    out.push(row);
  }
  return out;
}
