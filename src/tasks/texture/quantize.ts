/**
 * Requantization of grey values to the GLCM's number of levels.
 *
 * If levels < 2^bitDepth: q = floor(v * levels / 2^bitDepth) (8-bit, levels 32: v >> 3; 16-bit, levels 256: v >> 8).
 * Otherwise the values are used as they are (they already lie below levels).
 */
import type { GreyImage } from './types.js';
import { validateLevels } from './options.js';

export type QuantizedData = Uint8Array | Uint16Array;

/** Lookup table v -> floor(v * levels / 2^bits), or null when the values are used as they are. */
export function quantizationTable(bitDepth: number, levels: number): Uint8Array | Uint16Array | null {
  const range = 2 ** bitDepth;
  if (levels >= range) return null;
  const lut = levels <= 256 ? new Uint8Array(range) : new Uint16Array(range);
  for (let v = 0; v < range; v++) lut[v] = Math.floor((v * levels) / range);
  return lut;
}

/** Requantize a whole image (sync). The result may share memory with image.data when no change is needed. */
export function requantize(image: GreyImage, levels: number): QuantizedData {
  validateLevels(levels);
  const out = allocateQuantized(image, levels);
  requantizeRows(image, levels, out, 0, image.height, quantizationTable(image.bitDepth, levels));
  return out;
}

/** The output array for requantize(): shares image.data when values pass through unchanged in a fitting type. */
export function allocateQuantized(image: GreyImage, levels: number): QuantizedData {
  const n = image.width * image.height;
  const passThrough = levels >= 2 ** image.bitDepth;
  if (passThrough && levels <= 256 && image.data instanceof Uint8Array) return image.data;
  if (passThrough && levels > 256 && image.data instanceof Uint16Array) return image.data;
  return levels <= 256 ? new Uint8Array(n) : new Uint16Array(n);
}

/** Requantize rows [r0, r1) into out (no-op when out shares image.data). */
export function requantizeRows(
  image: GreyImage,
  levels: number,
  out: QuantizedData,
  r0: number,
  r1: number,
  lut: Uint8Array | Uint16Array | null,
): void {
  if (out === image.data) return;
  const src = image.data;
  const from = r0 * image.width;
  const to = r1 * image.width;
  const shift = Math.log2(2 ** image.bitDepth / levels);
  if (lut === null) {
    for (let k = from; k < to; k++) out[k] = src[k];
  } else if (Number.isInteger(shift)) {
    // levels a power of two: floor(v * levels / 2^bits) is v >> shift (16-bit, levels 256: v >> 8)
    for (let k = from; k < to; k++) out[k] = src[k] >> shift;
  } else {
    for (let k = from; k < to; k++) out[k] = lut[src[k]];
  }
}
