/**
 * What `taskwarden texture` shows: a text table whose numbers never run
 * together, --symmetric/--no-symmetric, and heat maps whose ragged last column and row of tiles
 * are drawn as narrow as those tiles are.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode as decodePng } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { toText } from '../../src/cli/commands/texture.js';
import type { ImageFeatures } from '../../src/tasks/texture/analyze.js';
import { analyzeImages } from '../../src/tasks/texture/analyze.js';
import { textureFeatures } from '../../src/tasks/texture/compute.js';
import { readImage } from '../../src/tasks/texture/decode.js';
import { renderHeatMap, viridis } from '../../src/tasks/texture/heatmap.js';
import { FEATURE_NAMES, type FeatureTable } from '../../src/tasks/texture/types.js';
import { assetsDir, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const brick = path.join(assetsDir, 'brick.png');

function pixel(png: ReturnType<typeof decodePng>, x: number, y: number): number[] {
  const k = (y * png.width + x) * png.channels;
  return Array.from(png.data.slice(k, k + 3) as ArrayLike<number>);
}

describe('texture text table', () => {
  it('numbers wider than the header are separated (coins.png ASM at 256 levels: 0.00038254 0.000281188 ...)', () => {
    // The values `taskwarden texture coins.png` printed run together as 0.000382540.0002811880.000333405.
    const asm = [[0.00038254, 0.000281188, 0.000333405, 0.000280137]];
    const features = Object.fromEntries(
      FEATURE_NAMES.map((name) => [name, name === 'ASM' ? asm : [[146.04, 1234567.891, 33.08, 0.5]]]),
    ) as FeatureTable;
    const result: ImageFeatures = {
      ok: true,
      file: '/x/coins.png',
      page: 0,
      pages: 1,
      width: 384,
      height: 303,
      bitDepth: 8,
      colour: 'grey',
      levels: 256,
      distances: [1],
      angles: [0, 45, 90, 135],
      symmetric: true,
      features,
      ms: 1,
    };
    const lines = toText([result]).split('\n');
    const row = lines.find((line) => line.trimStart().startsWith('ASM'))!;
    const cells = row.trim().split(/\s+/);
    expect(cells).toEqual(['ASM', '0.00038254', '0.000281188', '0.000333405', '0.000280137']);
    expect(row).toMatch(/0\.00038254 {2,}0\.000281188 {2,}0\.000333405 {2,}0\.000280137$/);
    // the columns line up: every number ends where its header ends
    const header = lines[1];
    const ends = [...header.matchAll(/d=1 \d+°/g)].map((m) => m.index + m[0].length);
    for (const line of lines.slice(2, 2 + FEATURE_NAMES.length)) {
      const numberEnds = [...line.matchAll(/\S+/g)].slice(1).map((m) => m.index + m[0].length);
      expect(numberEnds, line).toEqual(ends);
    }
    expect(lines[0]).toBe('/x/coins.png: 384 x 303, 8-bit grey, levels 256, symmetric');
  });
});

describe('taskwarden texture --symmetric / --no-symmetric', () => {
  const script = fileURLToPath(new URL('./fixtures/cli.mjs', import.meta.url));
  const run = (...args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [script, 'texture', brick, '--json', '--levels', '16', '--priority', 'normal', ...args],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '',
        stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });

  it('--no-symmetric counts each pair once, as scikit-image symmetric=False; --symmetric is the default', async () => {
    const [once, both, plain] = await Promise.all([run('--no-symmetric'), run('--symmetric'), run()]);
    for (const r of [once, both, plain]) expect(r.code, r.stderr).toBe(0);
    const [page] = await readImage(brick);
    const [a] = JSON.parse(once.stdout);
    expect(a.symmetric).toBe(false);
    expect(a.features).toEqual(textureFeatures(page, { levels: 16, symmetric: false }).features);
    const [b] = JSON.parse(both.stdout);
    expect(b.symmetric).toBe(true);
    expect(b.features).toEqual(textureFeatures(page, { levels: 16, symmetric: true }).features);
    expect(JSON.parse(plain.stdout)[0].features).toEqual(b.features);
    expect(a.features.ASM).not.toEqual(b.features.ASM);
  }, 60_000);
});

describe('heat maps at the ragged edge', () => {
  it('the last column and row are drawn as narrow as their tiles', () => {
    // 300 x 150 px in tiles of 128: columns of 128, 128, 44 px; rows of 128, 22 px.
    const grid = [0, 1, 2, 3, 4, 5];
    const heat = renderHeatMap(grid, 3, 2, { extent: { width: 300, height: 150, tileSize: 128 } });
    const cell = heat.cell;
    expect(heat.map.width).toBe(2 * cell + Math.round((44 / 128) * cell));
    expect(heat.map.height).toBe(cell + Math.round((22 / 128) * cell));
    const png = decodePng(heat.png);
    const { x, y } = heat.map;
    // inside the ragged tiles: their colour; just past them: the white background
    expect(pixel(png, x + heat.map.width - 1, y)).toEqual(viridis(2 / 5));
    expect(pixel(png, x + heat.map.width, y)).toEqual([255, 255, 255]);
    expect(pixel(png, x, y + heat.map.height - 1)).toEqual(viridis(3 / 5));
    expect(pixel(png, x, y + heat.map.height)).toEqual([255, 255, 255]);
    // without the extent (the old drawing): full squares
    const square = renderHeatMap(grid, 3, 2);
    expect(square.map).toMatchObject({ width: 3 * square.cell, height: 2 * square.cell });
  });

  it('tile maps of an image the tile size does not divide keep its proportions', async () => {
    const outDir = path.join(tmp.dir, 'ragged');
    const [result] = (await analyzeImages([brick], { tile: 200, levels: 16, outDir })) as ImageFeatures[];
    expect(result.tiles).toMatchObject({ cols: 3, rows: 3 }); // 200, 200, 112 px
    const png = decodePng(readFileSync(result.tiles!.maps.contrast[0]));
    // The map is the block of colours below the (black) title: find its top-left corner, then walk right to the background.
    const pad = 10;
    const coloured = (x: number, y: number) => !['255,255,255', '0,0,0'].includes(pixel(png, x, y).join());
    let y = 0;
    while (y < png.height && !coloured(pad, y)) y++;
    let x = pad;
    while (x < png.width && coloured(x, y)) x++;
    const mapWidth = x - pad;
    const full = Math.min(64, Math.floor(512 / 3)); // cell size for 3 tiles across (targetSize 512, at most 64 px)
    expect(mapWidth).toBe(2 * full + Math.round((112 / 200) * full));
  });
});
