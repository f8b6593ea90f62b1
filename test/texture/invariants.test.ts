/** Property tests: invariants of the matrices and agreement of the fast path with the reference formulas. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { textureFeatures, textureSteps, runSync, tileFeatures, tileRect } from '../../src/tasks/texture/compute.js';
import { graycomatrix, graycoprops } from '../../src/tasks/texture/skimage.js';
import { FEATURE_NAMES, type GreyImage } from '../../src/tasks/texture/types.js';
import { relErr } from './helpers.js';

/** A random small image with values below `levels`. */
const imageArb = fc
  .record({
    width: fc.integer({ min: 1, max: 12 }),
    height: fc.integer({ min: 1, max: 12 }),
    levels: fc.integer({ min: 2, max: 16 }),
  })
  .chain(({ width, height, levels }) =>
    fc.record({
      width: fc.constant(width),
      height: fc.constant(height),
      levels: fc.constant(levels),
      data: fc.array(fc.integer({ min: 0, max: levels - 1 }), { minLength: width * height, maxLength: width * height }),
    }),
  );
const distancesArb = fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 });
const anglesArb = fc.uniqueArray(
  fc.constantFrom(0, Math.PI / 4, Math.PI / 2, (3 * Math.PI) / 4, Math.PI, -Math.PI / 4, 1.1),
  { minLength: 1, maxLength: 5 },
);

const asGrey = (img: { width: number; height: number; data: number[] }): GreyImage => ({
  width: img.width,
  height: img.height,
  bitDepth: 8,
  data: Uint8Array.from(img.data),
});

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

describe('GLCM invariants (property tests)', () => {
  it('normed matrices sum to 1 (or are all zero when no pair fits)', () => {
    fc.assert(
      fc.property(imageArb, distancesArb, anglesArb, fc.boolean(), (img, ds, as, symmetric) => {
        const P = graycomatrix(img, ds, as, { levels: img.levels, symmetric, normed: true });
        for (let d = 0; d < ds.length; d++) {
          for (let a = 0; a < as.length; a++) {
            const sum = P.matrix(d, a)
              .flat()
              .reduce((x, y) => x + y, 0);
            expect(sum === 0 || close(sum, 1)).toBe(true);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('symmetric matrices equal their transpose and are the matrix plus its transpose', () => {
    fc.assert(
      fc.property(imageArb, distancesArb, anglesArb, (img, ds, as) => {
        const S = graycomatrix(img, ds, as, { levels: img.levels, symmetric: true });
        const P = graycomatrix(img, ds, as, { levels: img.levels });
        for (let d = 0; d < ds.length; d++) {
          for (let a = 0; a < as.length; a++) {
            const s = S.matrix(d, a),
              p = P.matrix(d, a);
            let ok = true;
            for (let i = 0; i < img.levels; i++) {
              for (let j = 0; j < img.levels; j++) ok &&= s[i][j] === s[j][i] && s[i][j] === p[i][j] + p[j][i];
            }
            expect(ok).toBe(true);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a constant image has contrast 0, dissimilarity 0, homogeneity 1, correlation 1, entropy 0', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 255 }),
        distancesArb,
        (w, h, v, ds) => {
          const img: GreyImage = { width: w, height: h, bitDepth: 8, data: new Uint8Array(w * h).fill(v) };
          const r = textureFeatures(img, { distances: ds });
          expect(r.features.contrast.flat().every((x) => x === 0)).toBe(true);
          expect(r.features.dissimilarity.flat().every((x) => x === 0)).toBe(true);
          expect(r.features.correlation.flat().every((x) => x === 1)).toBe(true);
          expect(r.features.entropy.flat().every((x) => x === 0)).toBe(true);
          // pairs exist only when the offset fits: then homogeneity and energy are 1 and mean is v
          r.features.homogeneity.flat().forEach((x, k) => {
            expect(x === 1 || x === 0).toBe(true);
            if (x === 1) {
              expect(r.features.energy.flat()[k]).toBe(1);
              expect(r.features.mean.flat()[k]).toBe(v);
            }
          });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a distance larger than the image gives zeros (correlation 1)', () => {
    fc.assert(
      fc.property(imageArb, anglesArb, (img, as) => {
        // max(|sin|, |cos|) >= 0.707, so one component of the offset exceeds the image for any angle
        const far = 2 * Math.max(img.width, img.height) + 2;
        const P = graycomatrix(img, [far], as, { levels: img.levels, symmetric: true, normed: true });
        expect(Array.from(P.data).every((x) => x === 0)).toBe(true);
        const r = textureFeatures(asGrey(img), { levels: img.levels, distances: [far], angles: as, requantize: false });
        for (const name of FEATURE_NAMES) {
          expect(r.features[name].flat().every((x) => x === (name === 'correlation' ? 1 : 0))).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('the fast path (dense and sparse) agrees with graycoprops on graycomatrix, every feature', () => {
    fc.assert(
      fc.property(imageArb, distancesArb, anglesArb, fc.boolean(), (img, ds, as, symmetric) => {
        const P = graycomatrix(img, ds, as, { levels: img.levels, symmetric, normed: true });
        for (const accumulation of ['dense', 'sparse'] as const) {
          const r = runSync(
            textureSteps(asGrey(img), {
              levels: img.levels,
              distances: ds,
              angles: as,
              symmetric,
              accumulation,
              requantize: false,
            }),
          );
          for (const name of FEATURE_NAMES) {
            const expected = graycoprops(P, name);
            expected.forEach((row, d) =>
              row.forEach((e, a) => {
                const got = r.features[name][d][a];
                // correlation of a near-degenerate matrix is ill-conditioned in floating point: compare loosely there
                const ok = close(got, e) || (name === 'correlation' && Math.abs(got - e) < 1e-6);
                expect(ok, `${accumulation} ${name}[${d}][${a}]: ${got} vs ${e}`).toBe(true);
              }),
            );
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('per-tile features equal the features of the tile cropped out (graycomatrix on the crop)', () => {
    fc.assert(
      fc.property(imageArb, fc.integer({ min: 2, max: 7 }), distancesArb, (img, tile, ds) => {
        const as = [0, Math.PI / 4, Math.PI / 2, (3 * Math.PI) / 4];
        const r = runSync(
          textureSteps(asGrey(img), { levels: img.levels, distances: ds, angles: as, tile, requantize: false }),
        );
        const maps = r.tiles!;
        expect(maps.cols).toBe(Math.ceil(img.width / tile));
        expect(maps.rows).toBe(Math.ceil(img.height / tile));
        for (let t = 0; t < maps.cols * maps.rows; t++) {
          const rect = tileRect(maps, img.width, img.height, t);
          const crop: number[] = [];
          for (let y = rect.y; y < rect.y + rect.height; y++)
            for (let x = rect.x; x < rect.x + rect.width; x++) crop.push(img.data[y * img.width + x]);
          const P = graycomatrix({ width: rect.width, height: rect.height, data: crop }, ds, as, {
            levels: img.levels,
            symmetric: true,
            normed: true,
          });
          const f = tileFeatures(maps, t);
          for (const name of ['contrast', 'ASM', 'entropy', 'mean', 'homogeneity'] as const) {
            graycoprops(P, name).forEach((row, d) =>
              row.forEach((e, a) =>
                expect(relErr(f[name][d][a], e) < 1e-9 || Math.abs(f[name][d][a] - e) < 1e-12).toBe(true),
              ),
            );
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('more than 256 levels (16-bit input, Uint16 requantized data, one table per offset)', () => {
  it('levels 300 on a 16-bit image: floor(v * 300 / 65536), features equal graycoprops', async () => {
    const { requantize } = await import('../../src/tasks/texture/quantize.js');
    const width = 37,
      height = 23;
    let s = 12345;
    const data = Uint16Array.from({ length: width * height }, () => (s = (s * 1103515245 + 12345) >>> 0) >>> 16);
    const img: GreyImage = { width, height, bitDepth: 16, data };
    const q = requantize(img, 300);
    expect(q).toBeInstanceOf(Uint16Array);
    for (let k = 0; k < data.length; k++) expect(q[k]).toBe(Math.floor((data[k] * 300) / 65536));
    const angles = [0, Math.PI / 2];
    const P = graycomatrix({ width, height, data: Array.from(q) }, [1, 2], angles, {
      levels: 300,
      symmetric: true,
      normed: true,
    });
    for (const accumulation of ['dense', 'sparse'] as const) {
      const r = runSync(textureSteps(img, { levels: 300, distances: [1, 2], angles, accumulation }));
      for (const name of FEATURE_NAMES) {
        graycoprops(P, name).forEach((row, d) =>
          row.forEach((e, a) => expect(close(r.features[name][d][a], e), `${accumulation} ${name}`).toBe(true)),
        );
      }
    }
  });
});
