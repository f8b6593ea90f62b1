/** Batch analysis of files: per-image results, errors per image, tile maps written as PNG + JSON + CSV. */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decode as decodePng } from 'fast-png';
import { analyzeImages, type ImageFeatures } from '../../src/tasks/texture/analyze.js';
import { textureFeatures, runSync, textureSteps, tileFeatures } from '../../src/tasks/texture/compute.js';
import { readImage } from '../../src/tasks/texture/decode.js';
import { formatValue, renderHeatMap, viridis } from '../../src/tasks/texture/heatmap.js';
import { encodeGreyTiff } from '../../src/tasks/texture/tiff.js';
import { FEATURE_NAMES } from '../../src/tasks/texture/types.js';
import { assetsDir, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const brick = path.join(assetsDir, 'brick.png');
const grass = path.join(assetsDir, 'grass.png');

describe('analyzeImages', () => {
  it('one entry per image with every feature as [distance][angle]; a bad image does not stop the batch', async () => {
    const bad = path.join(tmp.dir, 'bad.png');
    writeFileSync(bad, 'not an image');
    const seen: string[] = [];
    const progress: number[] = [];
    const results = await analyzeImages(
      [brick, bad, grass],
      { distances: [1, 3], levels: 32 },
      {
        onResult: (r) => seen.push(r.file),
        onProgress: (f) => progress.push(f),
      },
    );
    expect(results.map((r) => [r.file, r.ok])).toEqual([
      [brick, true],
      [bad, false],
      [grass, true],
    ]);
    expect(seen).toEqual([brick, bad, grass]);
    const ok = results[0] as ImageFeatures;
    expect(ok).toMatchObject({
      page: 0,
      pages: 1,
      width: 512,
      height: 512,
      bitDepth: 8,
      levels: 32,
      distances: [1, 3],
      angles: [0, 45, 90, 135],
    });
    for (const name of FEATURE_NAMES) {
      expect(ok.features[name]).toHaveLength(2);
      ok.features[name].forEach((row) => expect(row).toHaveLength(4));
    }
    const [page] = await readImage(brick);
    expect(ok.features).toEqual(textureFeatures(page, { levels: 32, distances: [1, 3] }).features);
    expect(results[1]).toEqual({
      ok: false,
      file: bad,
      error: { name: 'ImageDecodeError', message: expect.stringMatching(new RegExp(`^${bad}: unsupported format`)) },
    });
    expect(progress.at(-1)).toBe(1);
  });

  it('each page of a stack is analysed', async () => {
    const pages = [1, 2].map((k) => ({
      width: 40,
      height: 30,
      bitDepth: 16 as const,
      data: Uint16Array.from({ length: 1200 }, (_, i) => (i * 977 * k) & 0xffff),
    }));
    const stack = path.join(tmp.dir, 'stack.tif');
    writeFileSync(stack, encodeGreyTiff(pages));
    const results = (await analyzeImages([stack], { distances: [1] })) as ImageFeatures[];
    expect(results.map((r) => [r.file, r.page, r.pages, r.bitDepth])).toEqual([
      [stack, 0, 2, 16],
      [stack, 1, 2, 16],
    ]);
    expect(results[0].features).toEqual(textureFeatures(pages[0], { distances: [1] }).features);
    expect(results[1].features).toEqual(textureFeatures(pages[1], { distances: [1] }).features);
  });

  it('with tile: heat-map PNGs per feature and distance, plus the numbers as JSON and CSV', async () => {
    const outDir = path.join(tmp.dir, 'maps');
    const [result] = (await analyzeImages([brick], { tile: 128, distances: [1, 3], outDir })) as ImageFeatures[];
    const tiles = result.tiles!;
    expect(tiles).toMatchObject({ tileSize: 128, cols: 4, rows: 4 });
    expect(Object.keys(tiles.maps)).toEqual([...FEATURE_NAMES]);
    const contrastPng = tiles.maps.contrast[0];
    expect(path.basename(contrastPng)).toBe('brick.contrast.d1.png');
    const png = decodePng(readFileSync(contrastPng));
    expect(png.channels).toBe(3);
    expect(png.width).toBeGreaterThan(256); // 4 tiles x 64 px map, plus the colour bar and its labels
    expect(png.text.feature).toBe('contrast');
    for (const name of FEATURE_NAMES) for (const f of tiles.maps[name]) expect(existsSync(f)).toBe(true);

    const json = JSON.parse(readFileSync(tiles.json, 'utf8'));
    expect(json).toMatchObject({
      file: brick,
      tileSize: 128,
      cols: 4,
      rows: 4,
      distances: [1, 3],
      angles: [0, 45, 90, 135],
    });
    expect(json.tiles).toHaveLength(16);
    const [page] = await readImage(brick);
    const direct = runSync(
      textureSteps(page, { distances: [1, 3], angles: [0, Math.PI / 4, Math.PI / 2, (3 * Math.PI) / 4], tile: 128 }),
    );
    expect(json.tiles[5]).toMatchObject({ col: 1, row: 1, x: 128, y: 128, width: 128, height: 128 });
    expect(json.tiles[5].features).toEqual(tileFeatures(direct.tiles!, 5));
    expect(String(Number(png.text.max))).toBe(png.text.max);

    const csv = readFileSync(tiles.csv, 'utf8').trim().split('\n');
    expect(csv[0]).toBe(`col,row,x,y,width,height,distance,angle,${FEATURE_NAMES.join(',')}`);
    expect(csv).toHaveLength(1 + 16 * 2 * 4);
    const row = csv[1].split(',').map(Number);
    expect(row.slice(0, 8)).toEqual([0, 0, 0, 0, 128, 128, 1, 0]);
    expect(row[8]).toBe(json.tiles[0].features.contrast[0][0]);
  });

  it('rejects bad options before touching any file', async () => {
    await expect(analyzeImages([brick], { levels: 0 })).rejects.toThrow(RangeError);
    await expect(analyzeImages([brick], { tile: 1 })).rejects.toThrow('tile must be an integer of at least 2');
    await expect(analyzeImages([brick], { angles: ['x' as unknown as number] })).rejects.toThrow(
      'angles[0] must be a number (degrees)',
    );
  });
});

describe('heat map rendering', () => {
  it('viridis-like scale from dark purple to yellow, labels and legend bar drawn in', () => {
    expect(viridis(0)).toEqual([0x44, 0x01, 0x54]);
    expect(viridis(1)).toEqual([0xfd, 0xe7, 0x25]);
    expect(viridis(Number.NaN)).toEqual([128, 128, 128]);
    expect(formatValue(0.000012345)).toBe('1.234e-5');
    expect(formatValue(146.0395)).toBe('146');
    const grid = Float64Array.from({ length: 12 }, (_, k) => k);
    const heat = renderHeatMap(grid, 4, 3, { title: 'contrast d=1' });
    expect(heat).toMatchObject({ min: 0, max: 11, cell: 64 });
    const png = decodePng(heat.png);
    expect([png.width, png.height]).toEqual([heat.width, heat.height]);
    const px = (x: number, y: number) =>
      Array.from(png.data.subarray((y * png.width + x) * 3, (y * png.width + x) * 3 + 3));
    const top = 10 + 7 * 2 + 8; // padding + title (scale 2) + gap
    expect(px(10 + 5, top + 5)).toEqual(viridis(0)); // first tile: min
    expect(px(10 + 3 * 64 + 5, top + 2 * 64 + 5)).toEqual(viridis(1)); // last tile: max
    expect(px(10 + 4 * 64 + 14 + 9, top)).toEqual(viridis(1)); // top of the colour bar
  });
});
