import { describe, expect, it } from 'vitest';
import { graycomatrix, graycoprops } from '../../src/tasks/texture/skimage.js';
import { textureFeatures } from '../../src/tasks/texture/compute.js';
import { glcmOffset } from '../../src/tasks/texture/glcm.js';
import type { GreyImage } from '../../src/tasks/texture/types.js';

// scikit-image's own test image (skimage/feature/tests/test_texture.py)
const IMAGE = [
  [0, 0, 1, 1],
  [0, 0, 1, 1],
  [0, 2, 2, 2],
  [2, 2, 3, 3],
];
const flat = { width: 4, height: 4, data: IMAGE.flat() };
const grey: GreyImage = { width: 4, height: 4, bitDepth: 2, data: Uint8Array.from(IMAGE.flat()) };
const ANGLES = [0, Math.PI / 4, Math.PI / 2, (3 * Math.PI) / 4];

describe('offsets (scikit-image convention)', () => {
  it('angle 0 is the right neighbour, pi/2 the one below, pi/4 down-right, 3pi/4 down-left', () => {
    expect(glcmOffset(1, 0)).toEqual({ dr: 0, dc: 1 });
    expect(glcmOffset(1, Math.PI / 2)).toEqual({ dr: 1, dc: 0 });
    expect(glcmOffset(1, Math.PI / 4)).toEqual({ dr: 1, dc: 1 });
    expect(glcmOffset(1, (3 * Math.PI) / 4)).toEqual({ dr: 1, dc: -1 });
    expect(glcmOffset(3, Math.PI / 4)).toEqual({ dr: 2, dc: 2 });
    expect(glcmOffset(2, Math.PI)).toEqual({ dr: 0, dc: -2 });
  });
});

describe('graycomatrix on scikit-image ground truth (4x4 image, levels 4, distance 1)', () => {
  const P = graycomatrix(flat, [1], ANGLES, { levels: 4 });
  it('angle 0', () =>
    expect(P.matrix(0, 0)).toEqual([
      [2, 2, 1, 0],
      [0, 2, 0, 0],
      [0, 0, 3, 1],
      [0, 0, 0, 1],
    ]));
  it('angle pi/4', () =>
    expect(P.matrix(0, 1)).toEqual([
      [1, 1, 3, 0],
      [0, 1, 1, 0],
      [0, 0, 0, 2],
      [0, 0, 0, 0],
    ]));
  it('angle pi/2', () =>
    expect(P.matrix(0, 2)).toEqual([
      [3, 0, 2, 0],
      [0, 2, 2, 0],
      [0, 0, 1, 2],
      [0, 0, 0, 0],
    ]));
  it('angle 3pi/4', () =>
    expect(P.matrix(0, 3)).toEqual([
      [2, 0, 0, 0],
      [1, 1, 2, 0],
      [0, 0, 2, 1],
      [0, 0, 0, 0],
    ]));
  it('angle pi/2, symmetric', () => {
    const S = graycomatrix(flat, [1], [Math.PI / 2], { levels: 4, symmetric: true });
    expect(S.matrix(0, 0)).toEqual([
      [6, 0, 2, 0],
      [0, 4, 2, 0],
      [2, 2, 2, 2],
      [0, 0, 2, 0],
    ]);
  });
  it('a distance larger than the image gives an all-zero matrix', () => {
    const Z = graycomatrix(flat, [5], ANGLES, { levels: 4, symmetric: true, normed: true });
    expect(Array.from(Z.data).every((v) => v === 0)).toBe(true);
  });
});

describe('features on scikit-image ground truth (symmetric, normed)', () => {
  const P = graycomatrix(flat, [1, 2], [0, Math.PI / 2], { levels: 4, symmetric: true, normed: true });
  const fast = textureFeatures(grey, { levels: 4, distances: [1, 2], angles: [0, Math.PI / 2] });
  const expectClose = (actual: number[][], expected: number[][]) =>
    expected.forEach((row, d) => row.forEach((e, a) => expect(actual[d][a]).toBeCloseTo(e, 7)));

  it('contrast for distances [1, 2] x angles [0, pi/2]', () => {
    expectClose(graycoprops(P, 'contrast'), [
      [0.58333333, 1],
      [1.25, 2.75],
    ]);
    expectClose(fast.features.contrast, [
      [0.58333333, 1],
      [1.25, 2.75],
    ]);
  });
  it('distance 1, angle 0: homogeneity, energy, correlation, dissimilarity, entropy', () => {
    for (const f of [
      fast.features,
      {
        homogeneity: graycoprops(P, 'homogeneity'),
        energy: graycoprops(P, 'energy'),
        correlation: graycoprops(P, 'correlation'),
        dissimilarity: graycoprops(P, 'dissimilarity'),
        entropy: graycoprops(P, 'entropy'),
      },
    ]) {
      expect(f.homogeneity[0][0]).toBeCloseTo(0.80833333, 7);
      expect(f.energy[0][0]).toBeCloseTo(0.38188131, 7);
      expect(f.correlation[0][0]).toBeCloseTo(0.71953255, 7);
      expect(f.correlation[1][0]).toBeCloseTo(0.4117647, 7);
      expect(f.dissimilarity[0][0]).toBeCloseTo(0.41666667, 7);
      expect(f.entropy[0][0]).toBeCloseTo(2.09472904, 7);
    }
  });
  it('a distance larger than the image: zeros, correlation 1', () => {
    const r = textureFeatures(grey, { levels: 4, distances: [5, 100], angles: ANGLES });
    for (const name of [
      'contrast',
      'dissimilarity',
      'homogeneity',
      'ASM',
      'energy',
      'mean',
      'variance',
      'std',
      'entropy',
    ] as const) {
      expect(r.features[name].flat().every((v) => v === 0)).toBe(true);
    }
    expect(r.features.correlation.flat().every((v) => v === 1)).toBe(true);
  });
});
