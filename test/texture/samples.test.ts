import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readImage } from '../../src/tasks/texture/decode.js';
import { assetsDirectory, sampleImages, syntheticTexture } from '../../src/tasks/texture/samples.js';
import { resolveImagePaths } from '../../src/tasks/texture/task.js';
import { assetsDir, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('sample images', () => {
  it('brick and grass ship in assets/texture with their CC0 notice', async () => {
    expect(assetsDirectory()).toBe(assetsDir);
    const samples = await sampleImages({ only: ['brick', 'grass'] });
    expect(samples.map((s) => [s.name, s.origin, s.width, s.height, s.bitDepth])).toEqual([
      ['brick', 'asset', 512, 512, 8],
      ['grass', 'asset', 512, 512, 8],
    ]);
    for (const s of samples) {
      expect(path.isAbsolute(s.path)).toBe(true);
      expect(s.description).toMatch(/CC0/);
      const [page] = await readImage(s.path);
      expect([page.width, page.height, page.bitDepth]).toEqual([512, 512, 8]);
    }
    expect(readFileSync(path.join(assetsDir, 'NOTICE.md'), 'utf8')).toMatch(/CC0 1\.0[\s\S]*CC0Textures/);
  });

  it('generated samples are created on first use in the cache, deterministic, then reused', async () => {
    const cacheDir = path.join(tmp.dir, 'cache');
    const [first] = await sampleImages({ only: ['stack-4x512-16bit'], cacheDir });
    expect(first).toMatchObject({
      name: 'stack-4x512-16bit',
      origin: 'generated',
      width: 512,
      height: 512,
      bitDepth: 16,
      pages: 4,
    });
    expect(path.dirname(first.path)).toBe(cacheDir);
    const mtime = statSync(first.path).mtimeMs;
    const again = await sampleImages({ only: ['stack-4x512-16bit'], cacheDir });
    expect(statSync(again[0].path).mtimeMs).toBe(mtime);
    const pages = await readImage(first.path);
    expect(pages).toHaveLength(4);
    expect(pages[0]).toMatchObject({ width: 512, height: 512, bitDepth: 16 });
    expect(Array.from(pages[2].data.subarray(0, 64))).toEqual(
      Array.from(syntheticTexture(512, 512, 514, 16).data.subarray(0, 64)),
    );
    // not generated when asked not to
    expect(await sampleImages({ only: ['synthetic-4096-16bit'], cacheDir, generate: false })).toEqual([]);
  });

  it('task input accepts sample:NAME', async () => {
    expect(await resolveImagePaths(['sample:brick', 'x.png'])).toEqual([
      path.join(assetsDir, 'brick.png'),
      path.resolve('x.png'),
    ]);
    await expect(resolveImagePaths(['sample:nope'])).rejects.toThrow(/unknown sample image "nope"/);
  });
});
