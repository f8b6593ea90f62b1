/**
 * The texture-analysis task module: run it through a Supervisor with
 * `sup.start({ module: textureTaskModule, input: { images: [...] } })`.
 *
 * Input: { images: string[] (paths, or 'sample:NAME' for a bundled/generated sample), levels?,
 * distances?, angles? (DEGREES), symmetric?, tile?, outDir? }. Result: one entry per image (per
 * page of a stack), with its features as [distance][angle], or its error — one bad image does not
 * stop the batch. Cancelling aborts ctx.signal; the computation sees it within milliseconds.
 */
import path from 'node:path';
import { defineTask } from '../../runner/define-task.js';
import { analyzeImages, type AnalyzeOptions, type ImageResult } from './analyze.js';
import { sampleImages } from './samples.js';

export interface TextureTaskInput extends AnalyzeOptions {
  images: string[];
}

export interface TextureTaskResult {
  images: ImageResult[];
  ok: number;
  failed: number;
  ms: number;
}

const SAMPLE_PREFIX = 'sample:';

/** Resolve 'sample:NAME' entries to sample image paths; others relative to the task's cwd. */
export async function resolveImagePaths(images: readonly string[]): Promise<string[]> {
  const names = images.filter((f) => f.startsWith(SAMPLE_PREFIX)).map((f) => f.slice(SAMPLE_PREFIX.length));
  const samples = names.length > 0 ? await sampleImages({ only: names }) : [];
  return images.map((f) => {
    if (!f.startsWith(SAMPLE_PREFIX)) return path.resolve(f);
    const name = f.slice(SAMPLE_PREFIX.length);
    const found = samples.find((s) => s.name === name);
    if (!found)
      throw new RangeError(
        `unknown sample image ${JSON.stringify(name)}; known: brick, grass, synthetic-2048-16bit, synthetic-4096-16bit, stack-4x512-16bit`,
      );
    return found.path;
  });
}

export default defineTask<TextureTaskInput, TextureTaskResult>(async (input, ctx) => {
  if (typeof input !== 'object' || input === null)
    throw new TypeError('texture task input must be an object { images: string[], ... }');
  if (!Array.isArray(input.images) || input.images.length === 0)
    throw new TypeError('texture task input.images must be a non-empty array of file paths');
  const started = performance.now();
  const files = await resolveImagePaths(input.images);
  const results = await analyzeImages(files, input, {
    signal: ctx.signal,
    onProgress: (fraction, message) => ctx.progress(fraction, message),
    onResult: (r) =>
      ctx.log(
        r.ok
          ? `texture: ${r.file}${r.pages > 1 ? ` page ${r.page}` : ''} done in ${r.ms} ms`
          : `texture: ${r.error.message}`,
      ),
  });
  const ok = results.filter((r) => r.ok).length;
  return { images: results, ok, failed: results.length - ok, ms: Math.round(performance.now() - started) };
});
