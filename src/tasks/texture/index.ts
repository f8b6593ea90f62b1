/**
 * taskwarden/tasks/texture: GLCM (grey-level co-occurrence matrix) texture features with
 * scikit-image's definitions — decoding, requantization, features, tiles and heat maps, sample
 * images — and `textureTaskModule`, the task module to run through a Supervisor.
 */

export { FEATURE_NAMES, FEATURE_COUNT } from './types.js';
export type {
  FeatureName,
  FeatureTable,
  GreyImage,
  TextureOptions,
  ResolvedTextureOptions,
  ProgressCallback,
  RunControl,
} from './types.js';
export { AbortError, ImageDecodeError, isAbortError } from './errors.js';
export {
  DEFAULT_LEVELS,
  MAX_LEVELS,
  DEFAULT_DISTANCES,
  DEFAULT_ANGLES,
  DEFAULT_ANGLES_DEGREES,
  resolveOptions,
  degreesToRadians,
} from './options.js';
export { requantize, quantizationTable, type QuantizedData } from './quantize.js';
export { glcmOffset, glcmOffsets, roundHalfAwayFromZero, skimageRound, STD_EPSILON, type PixelOffset } from './glcm.js';
export { graycomatrix, graycoprops, type Glcm, type GraycomatrixOptions, type RasterLike } from './skimage.js';
export {
  textureFeatures,
  computeTexture,
  textureSteps,
  runSync,
  runCooperative,
  tileRect,
  tileFeatureGrid,
  tileFeatures,
  type TextureResult,
  type TextureComputation,
  type TextureComputeOptions,
  type TileMaps,
  type TileRect,
} from './compute.js';
export {
  RGB_WEIGHTS,
  openImage,
  openImageBytes,
  readImage,
  decodeImageBytes,
  detectFormat,
  type DecodedPage,
  type ImageSource,
  type ImageFormat,
} from './decode.js';
export { encodeGreyTiff } from './tiff.js';
export { renderHeatMap, viridis, formatValue, type HeatMap, type HeatMapOptions } from './heatmap.js';
export {
  sampleImages,
  syntheticTexture,
  assetsDirectory,
  cacheDirectory,
  type SampleImage,
  type SampleImagesOptions,
} from './samples.js';
export {
  analyzeImages,
  resolveAnalyzeOptions,
  writeTileOutputs,
  type AnalyzeOptions,
  type AnalyzeControl,
  type ImageResult,
  type ImageFeatures,
  type ImageFailure,
  type TileOutputs,
} from './analyze.js';
export type { TextureTaskInput, TextureTaskResult } from './task.js';

export { textureTaskModule } from './module-path.js';
