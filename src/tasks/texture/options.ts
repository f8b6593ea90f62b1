/** Validation of texture options, with precise TypeErrors and RangeErrors. */
import type { ResolvedTextureOptions, TextureOptions } from './types.js';

export const DEFAULT_LEVELS = 256;
export const MAX_LEVELS = 4096;
export const DEFAULT_DISTANCES: readonly number[] = [1];
export const DEFAULT_ANGLES: readonly number[] = [0, Math.PI / 4, Math.PI / 2, (3 * Math.PI) / 4];
export const DEFAULT_ANGLES_DEGREES: readonly number[] = [0, 45, 90, 135];

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined)
    return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return typeof value;
}

export function validateLevels(levels: unknown, name = 'levels'): number {
  if (typeof levels !== 'number') throw new TypeError(`${name} must be a number, got ${describe(levels)}`);
  if (!Number.isInteger(levels)) throw new RangeError(`${name} must be an integer, got ${levels}`);
  if (levels < 2 || levels > MAX_LEVELS) {
    throw new RangeError(
      `${name} must be between 2 and ${MAX_LEVELS} (a levels x levels matrix is kept per offset), got ${levels}`,
    );
  }
  return levels;
}

export function validateDistances(distances: unknown, name = 'distances'): number[] {
  if (!Array.isArray(distances))
    throw new TypeError(`${name} must be an array of positive integers, got ${describe(distances)}`);
  if (distances.length === 0) throw new RangeError(`${name} must not be empty`);
  return distances.map((d, k) => {
    if (typeof d !== 'number') throw new TypeError(`${name}[${k}] must be a number, got ${describe(d)}`);
    if (!Number.isInteger(d) || d < 1) throw new RangeError(`${name}[${k}] must be a positive integer, got ${d}`);
    if (d > 1_000_000) throw new RangeError(`${name}[${k}] must be at most 1000000, got ${d}`);
    return d;
  });
}

export function validateAngles(angles: unknown, name = 'angles', unit = 'radians'): number[] {
  if (!Array.isArray(angles))
    throw new TypeError(`${name} must be an array of numbers (${unit}), got ${describe(angles)}`);
  if (angles.length === 0) throw new RangeError(`${name} must not be empty`);
  return angles.map((a, k) => {
    if (typeof a !== 'number') throw new TypeError(`${name}[${k}] must be a number (${unit}), got ${describe(a)}`);
    if (!Number.isFinite(a)) throw new RangeError(`${name}[${k}] must be finite, got ${a}`);
    return a;
  });
}

export function validateTile(tile: unknown, name = 'tile'): number {
  if (typeof tile !== 'number') throw new TypeError(`${name} must be a number, got ${describe(tile)}`);
  if (!Number.isInteger(tile) || tile < 2)
    throw new RangeError(`${name} must be an integer of at least 2 (pixels per tile side), got ${tile}`);
  return tile;
}

export function resolveOptions(options: TextureOptions = {}): ResolvedTextureOptions {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  const symmetric = options.symmetric ?? true;
  if (typeof symmetric !== 'boolean') throw new TypeError(`symmetric must be a boolean, got ${describe(symmetric)}`);
  const requantize = options.requantize ?? true;
  if (typeof requantize !== 'boolean') throw new TypeError(`requantize must be a boolean, got ${describe(requantize)}`);
  return {
    requantize,
    levels: validateLevels(options.levels ?? DEFAULT_LEVELS),
    distances: validateDistances(options.distances ?? [...DEFAULT_DISTANCES]),
    angles: validateAngles(options.angles ?? [...DEFAULT_ANGLES]),
    symmetric,
  };
}

/**
 * Degrees to radians exactly as numpy's deg2rad (and radians) do it: d * (pi / 180) in float64, so
 * `--angles 30` gives the same radians, and the same offsets, as np.deg2rad(30) in scikit-image.
 * ((d * pi) / 180 differs in the last bit for some angles.)
 */
export const RADIANS_PER_DEGREE = Math.PI / 180;

export function degreesToRadians(degrees: readonly number[]): number[] {
  return degrees.map((d) => d * RADIANS_PER_DEGREE);
}
