/**
 * The texture task module run through a real Supervisor (separate process, IPC): results per
 * image, and a running computation that stops within milliseconds of cancel().
 * Uses the compiled package (dist/): `npm test` builds first.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Supervisor } from '../../src/index.js';
import {
  textureTaskModule,
  encodeGreyTiff,
  type TextureTaskResult,
  type ImageFeatures,
} from '../../src/tasks/texture/index.js';
import { assetsDir, rng, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.shutdown();
  sup = undefined;
});

/** A 2048 x 2048 16-bit noise TIFF: ~0.1-0.3 s of GLCM work, long enough to cancel mid-way. */
function bigTiff(): string {
  const file = path.join(tmp.dir, 'big.tif');
  const r = rng(11);
  const data = new Uint16Array(2048 * 2048);
  for (let k = 0; k < data.length; k++) data[k] = (r() * 65536) | 0;
  writeFileSync(file, encodeGreyTiff([{ width: 2048, height: 2048, bitDepth: 16, data }]));
  return file;
}

describe('texture task under the Supervisor', () => {
  it('textureTaskModule points at the compiled task module', () => {
    expect(textureTaskModule.endsWith(path.join('dist', 'src', 'tasks', 'texture', 'task.js'))).toBe(true);
  });

  it('analyses a batch with progress; a bad image gives an error entry, the rest complete', async () => {
    sup = new Supervisor({ concurrency: 1, prewarm: 0, stallAfterMs: Infinity });
    const bad = path.join(tmp.dir, 'truncated.png');
    writeFileSync(bad, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0]));
    const task = sup.start({
      module: textureTaskModule,
      input: { images: [path.join(assetsDir, 'brick.png'), bad, 'sample:grass'], distances: [1, 3] },
      name: 'texture',
    });
    const fractions: number[] = [];
    task.on('progress', ({ fraction }) => fractions.push(fraction));
    const outcome = await task.done;
    expect(outcome.state, JSON.stringify(outcome.error)).toBe('completed');
    const result = outcome.result as TextureTaskResult;
    expect(result.ok).toBe(2);
    expect(result.failed).toBe(1);
    expect(result.images[1]).toMatchObject({
      ok: false,
      file: bad,
      error: { message: expect.stringMatching(/truncated PNG/) },
    });
    const brick = result.images[0] as ImageFeatures;
    expect(brick.features.contrast[0][0]).toBeCloseTo(146.03957084758468, 9);
    expect(brick.features.contrast).toHaveLength(2);
    expect(path.basename(result.images[2].file)).toBe('grass.png');
    expect(fractions.length).toBeGreaterThan(0);
  });

  it('a running texture task is cancelled within milliseconds of cancel(), gracefully', async () => {
    const file = bigTiff();
    sup = new Supervisor({ concurrency: 1, prewarm: 0, stallAfterMs: Infinity, graceMs: 5000 });
    const task = sup.start({ module: textureTaskModule, input: { images: [file], distances: [1, 3] }, name: 'big' });
    // wait until the GLCM computation itself is running (past decoding)
    await new Promise<void>((resolve) =>
      task.on('progress', ({ fraction, message }) => {
        if (fraction > 0.05 && /%/.test(message ?? '')) resolve();
      }),
    );
    const cancelAt = performance.now();
    task.cancel();
    const outcome = await task.done;
    const latency = performance.now() - cancelAt;
    expect(outcome.state).toBe('cancelled');
    expect(outcome.escalated ?? false).toBe(false); // stopped by its own AbortSignal check, no SIGKILL needed
    // observed 15-30 ms on a quiet machine (IPC + the next block boundary + process exit), several
    // hundred when other jobs load the 2-core machine 10-30 deep: a generous bound, the number is printed
    expect(latency).toBeLessThan(2000);
    console.log(`texture task: cancel() -> cancelled in ${latency.toFixed(1)} ms`);
  });
});
