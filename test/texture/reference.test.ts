import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readImage } from '../../src/tasks/texture/decode.js';
import { textureFeatures } from '../../src/tasks/texture/compute.js';
import { requantize } from '../../src/tasks/texture/quantize.js';
import { assetsDir, maxRelErr, repoRoot } from './helpers.js';

// a copy of ../shared/data/texture/reference.json (scikit-image 0.19.3 output)
const local = path.join(repoRoot, 'test/texture/fixtures/reference.json');
interface Ref {
  images: Record<string, Record<string, Record<string, number[][]>> & { shape: number[] }>;
}
const ref = JSON.parse(readFileSync(local, 'utf8')) as Ref;
const ANGLES = [0, Math.PI / 4, Math.PI / 2, (3 * Math.PI) / 4];
const CONFIGS = {
  levels256_d1_3: { levels: 256, distances: [1, 3] },
  levels32_d1: { levels: 32, distances: [1] },
} as const;

describe.each(['brick', 'grass'])('%s.png against scikit-image 0.19.3 (reference.json)', (name) => {
  it.each(Object.keys(CONFIGS) as (keyof typeof CONFIGS)[])(
    '%s: every feature to relative error 1e-9',
    async (config) => {
      const [page] = await readImage(path.join(assetsDir, `${name}.png`));
      expect([page.height, page.width]).toEqual(ref.images[name].shape);
      const { levels, distances } = CONFIGS[config];
      const result = textureFeatures(page, { levels, distances, angles: ANGLES });
      const expected = ref.images[name][config];
      const names = Object.keys(expected);
      expect(names.length).toBe(7);
      for (const feature of names) {
        const err = maxRelErr(result.features[feature as keyof typeof result.features], expected[feature]);
        expect(err, `${name} ${config} ${feature}: max relative error ${err}`).toBeLessThan(1e-9);
      }
    },
  );
});

describe('requantization used by the levels32_d1 configuration', () => {
  it('8-bit at levels 32 is v >> 3 (the reference used image // 8)', async () => {
    const [page] = await readImage(path.join(assetsDir, 'brick.png'));
    const q = requantize(page, 32);
    for (let k = 0; k < page.data.length; k += 97) expect(q[k]).toBe(page.data[k] >> 3);
  });
});
