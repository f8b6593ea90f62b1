/**
 * Every whole-degree angle 0-359 and every distance 1-10 against scikit-image 0.19.3
 * (fixtures/angle-sweep.json, written by scripts/texture-angle-sweep.py; no Python needed here).
 *
 * scikit-image rounds offsets with its own round (add 0.5, truncate, in float64), not C's round():
 * sin(30°) = 0.49999999999999994 is offset 1 there. Features depend on the offset only, so each
 * distinct offset's features are computed once and compared for every (angle, distance) giving it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeImages, type ImageFeatures } from '../../src/tasks/texture/analyze.js';
import { textureFeatures } from '../../src/tasks/texture/compute.js';
import { readImage } from '../../src/tasks/texture/decode.js';
import { glcmOffset } from '../../src/tasks/texture/glcm.js';
import { degreesToRadians } from '../../src/tasks/texture/options.js';
import type { FeatureName } from '../../src/tasks/texture/types.js';
import { assetsDir, relErr, repoRoot } from './helpers.js';

interface Sweep {
  features: FeatureName[];
  angles: number[];
  offsets: [number, number][][];
  configs: Record<'levels256' | 'levels32', { values: number[][]; index: number[][] }>;
}

const sweep = JSON.parse(readFileSync(path.join(repoRoot, 'test/texture/fixtures/angle-sweep.json'), 'utf8')) as Sweep;
const DEGREES = Array.from({ length: 360 }, (_, k) => k);
const DISTANCES = Array.from({ length: 10 }, (_, k) => k + 1);
const brick = path.join(assetsDir, 'brick.png');

describe('GLCM offsets and features for every whole-degree angle and distances 1-10 (scikit-image 0.19.3, brick.png)', () => {
  it('degrees become the radians np.deg2rad gives, bit for bit', () => {
    expect(degreesToRadians(DEGREES)).toEqual(sweep.angles);
  });

  it("every offset is the one scikit-image's Cython loop computes (its round, not C's)", () => {
    const wrong: string[] = [];
    for (const degree of DEGREES) {
      for (const d of DISTANCES) {
        const { dr, dc } = glcmOffset(d, sweep.angles[degree]);
        const [er, ec] = sweep.offsets[degree][d - 1];
        if (dr !== er || dc !== ec) wrong.push(`${degree}° d=${d}: [${dr}, ${dc}], scikit-image [${er}, ${ec}]`);
      }
    }
    expect(wrong).toEqual([]);
    // The cases that went wrong once: sin(30°) and sin(150°) are 0.49999999999999994, offset 1.
    expect(glcmOffset(1, degreesToRadians([30])[0])).toEqual({ dr: 1, dc: 1 });
    expect(glcmOffset(1, degreesToRadians([150])[0])).toEqual({ dr: 1, dc: -1 });
  });

  it.each(['levels256', 'levels32'] as const)(
    '%s: every feature of all 3600 (angle, distance) pairs to relative error 1e-9',
    async (config) => {
      const [page] = await readImage(brick);
      const levels = config === 'levels256' ? 256 : 32;
      const { values, index } = sweep.configs[config];
      // (degree, distance) pairs grouped by their offset: one computation per distinct offset.
      const groups = new Map<string, Array<[number, number]>>();
      for (const degree of DEGREES) {
        for (const d of DISTANCES) {
          const { dr, dc } = glcmOffset(d, sweep.angles[degree]);
          const key = `${dr},${dc}`;
          if (!groups.has(key)) groups.set(key, []);
          groups.get(key)!.push([degree, d]);
        }
      }
      let compared = 0;
      let worst = 0;
      const wrong: string[] = [];
      for (const pairs of groups.values()) {
        const [degree0, d0] = pairs[0];
        const result = textureFeatures(page, { levels, distances: [d0], angles: [sweep.angles[degree0]] });
        for (const [degree, d] of pairs) {
          const expected = values[index[degree][d - 1]];
          sweep.features.forEach((name, f) => {
            const err = relErr(result.features[name][0][0], expected[f]);
            worst = Math.max(worst, err);
            if (!(err < 1e-9))
              wrong.push(`${degree}° d=${d} ${name}: ${result.features[name][0][0]} vs ${expected[f]}`);
          });
          compared += 1;
        }
      }
      expect(compared).toBe(3600);
      expect(wrong.slice(0, 10)).toEqual([]);
      console.log(
        `angle sweep ${config}: 3600 (angle, distance) pairs, ${groups.size} distinct offsets, worst relative error ${worst.toExponential(2)}`,
      );
    },
  );

  it('the degrees path (the command line and the task module) gives scikit-image values at 30° and 150°', async () => {
    const [result] = (await analyzeImages([brick], {
      levels: 32,
      distances: [1, 3],
      angles: [30, 150, 210, 330],
    })) as ImageFeatures[];
    const { values, index } = sweep.configs.levels32;
    [1, 3].forEach((d, di) => {
      [30, 150, 210, 330].forEach((degree, ai) => {
        const expected = values[index[degree][d - 1]];
        sweep.features.forEach((name, f) =>
          expect(relErr(result.features[name][di][ai], expected[f]), `${degree}° d=${d} ${name}`).toBeLessThan(1e-9),
        );
      });
    });
  });
});
