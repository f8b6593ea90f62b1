/** Shared types of the texture-analysis library. */

/** A single-channel (grey) raster, row-major, top row first. */
export interface GreyImage {
  width: number;
  height: number;
  /** Bits per sample of the source: values lie in [0, 2^bitDepth - 1]. */
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** Uint8Array for bit depths up to 8, Uint16Array for 16. Length width * height. */
  data: Uint8Array | Uint16Array;
}

/** The ten GLCM features, in output order. */
export const FEATURE_NAMES = [
  'contrast',
  'dissimilarity',
  'homogeneity',
  'ASM',
  'energy',
  'correlation',
  'mean',
  'variance',
  'std',
  'entropy',
] as const;

export type FeatureName = (typeof FEATURE_NAMES)[number];
export const FEATURE_COUNT = FEATURE_NAMES.length;

/** Each feature as [distanceIndex][angleIndex], like scikit-image's graycoprops. */
export type FeatureTable = Record<FeatureName, number[][]>;

export interface TextureOptions {
  /**
   * Number of grey levels of the co-occurrence matrix (2..4096). Default 256.
   * If levels < 2^bitDepth, values are requantized as floor(v * levels / 2^bitDepth);
   * otherwise they are used as they are.
   */
  levels?: number;
  /** Pixel-pair distances, positive integers. Default [1]. */
  distances?: readonly number[];
  /** Pixel-pair angles in RADIANS (0 = right neighbour, pi/2 = neighbour below). Default [0, pi/4, pi/2, 3pi/4]. */
  angles?: readonly number[];
  /** Count each pair both ways (matrix + its transpose). Default true (scikit-image's graycomatrix defaults to false). */
  symmetric?: boolean;
  /**
   * Default true: requantize as described for `levels`. With false the values are used as they are
   * (as scikit-image's graycomatrix does) and must all be below `levels` (RangeError otherwise).
   */
  requantize?: boolean;
}

export interface ResolvedTextureOptions {
  levels: number;
  distances: number[];
  angles: number[];
  symmetric: boolean;
  requantize: boolean;
}

/** Called with a fraction in [0, 1] and a short message. */
export type ProgressCallback = (fraction: number, message?: string) => void;

export interface RunControl {
  /** Checked between blocks of work (at least every ~10 ms of compute); abort throws an AbortError. */
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /**
   * Async drivers yield to the event loop (a macrotask) when this much compute time has passed
   * since the last yield, so an abort arriving by IPC or timer is seen. Default 5 ms.
   */
  yieldEveryMs?: number;
}
