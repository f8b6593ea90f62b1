/**
 * Batch analysis of image files: decode (page by page), compute features (cooperatively), write
 * tile maps. One image failing (corrupt, unsupported, missing) gives an error entry for it and
 * the rest of the batch still completes; an abort stops the batch with an AbortError.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { computeTexture, tileFeatureGrid, tileRect, type TileMaps } from './compute.js';
import { openImage, type DecodedPage } from './decode.js';
import { isAbortError, throwIfAborted } from './errors.js';
import { renderHeatMap } from './heatmap.js';
import {
  DEFAULT_ANGLES_DEGREES,
  degreesToRadians,
  validateAngles,
  validateDistances,
  validateLevels,
  validateTile,
} from './options.js';
import { FEATURE_COUNT, FEATURE_NAMES, type FeatureName, type FeatureTable, type RunControl } from './types.js';

export interface AnalyzeOptions {
  /** Default 256. */
  levels?: number;
  /** Default [1]. */
  distances?: number[];
  /** DEGREES here (as on the command line). Default [0, 45, 90, 135]. */
  angles?: number[];
  /** Default true. */
  symmetric?: boolean;
  /** Per-tile features and heat maps, tiles of this many pixels square. */
  tile?: number;
  /** Where tile maps go (with tile). Default './texture-maps'. */
  outDir?: string;
}

export interface TileOutputs {
  tileSize: number;
  cols: number;
  rows: number;
  /** Per-tile numbers: JSON and CSV files. */
  json: string;
  csv: string;
  /** Heat-map PNG per feature, one per distance (index as in distances), value = mean over the angles. */
  maps: Record<FeatureName, string[]>;
}

export interface ImageFeatures {
  ok: true;
  file: string;
  /** 0-based page of a multi-page TIFF; 0 for single images. */
  page: number;
  pages: number;
  width: number;
  height: number;
  bitDepth: number;
  colour: DecodedPage['colour'];
  levels: number;
  distances: number[];
  /** Degrees. */
  angles: number[];
  symmetric: boolean;
  /** Each feature as [distance][angle]. */
  features: FeatureTable;
  tiles?: TileOutputs;
  ms: number;
}

export interface ImageFailure {
  ok: false;
  file: string;
  error: { name: string; message: string };
}

export type ImageResult = ImageFeatures | ImageFailure;

export interface ResolvedAnalyzeOptions {
  levels: number;
  distances: number[];
  angles: number[];
  symmetric: boolean;
  tile?: number;
  outDir: string;
}

export function resolveAnalyzeOptions(options: AnalyzeOptions = {}): ResolvedAnalyzeOptions {
  const symmetric = options.symmetric ?? true;
  if (typeof symmetric !== 'boolean') throw new TypeError(`symmetric must be a boolean, got ${typeof symmetric}`);
  const outDir = options.outDir ?? 'texture-maps';
  if (typeof outDir !== 'string' || outDir === '') throw new TypeError('outDir must be a non-empty string');
  return {
    levels: validateLevels(options.levels ?? 256),
    distances: validateDistances(options.distances ?? [1]),
    angles: validateAngles(options.angles ?? [...DEFAULT_ANGLES_DEGREES], 'angles', 'degrees'),
    symmetric,
    ...(options.tile === undefined ? {} : { tile: validateTile(options.tile) }),
    outDir,
  };
}

export interface AnalyzeControl extends RunControl {
  /** Called as each image (page) completes or fails. */
  onResult?: (result: ImageResult) => void;
}

/** Analyse image files one after another; each page of a stack gives its own entry. */
export async function analyzeImages(
  files: readonly string[],
  options: AnalyzeOptions = {},
  control: AnalyzeControl = {},
): Promise<ImageResult[]> {
  const given: unknown = files; // checked as unknown: Array.isArray would narrow a readonly string[] to any[]
  if (!Array.isArray(given)) throw new TypeError('images must be an array of file paths');
  files.forEach((f, k) => {
    if (typeof f !== 'string' || f === '') throw new TypeError(`images[${k}] must be a non-empty string (a file path)`);
  });
  const opts = resolveAnalyzeOptions(options);
  const results: ImageResult[] = [];
  const stems = new Set<string>();
  const n = files.length;
  for (let index = 0; index < n; index++) {
    const file = files[index];
    throwIfAborted(control.signal);
    const base = index / n;
    const report = (fraction: number, message: string) =>
      control.onProgress?.(Math.min(1, base + fraction / n), message);
    report(0, `${path.basename(file)}: decoding`);
    try {
      const source = await openImage(file);
      for (let page = 0; page < source.pageCount; page++) {
        const started = performance.now();
        const label =
          source.pageCount > 1 ? `${path.basename(file)} page ${page + 1}/${source.pageCount}` : path.basename(file);
        const image = source.decodePage(page);
        const pageBase = page / source.pageCount;
        const computed = await computeTexture(
          image,
          {
            levels: opts.levels,
            distances: opts.distances,
            angles: degreesToRadians(opts.angles),
            symmetric: opts.symmetric,
            tile: opts.tile,
          },
          {
            signal: control.signal,
            yieldEveryMs: control.yieldEveryMs,
            onProgress: (f) => report(pageBase + (f * 0.95) / source.pageCount, `${label}: ${Math.round(f * 100)}%`),
          },
        );
        let tiles: TileOutputs | undefined;
        if (computed.tiles) {
          report(pageBase + 0.95 / source.pageCount, `${label}: writing tile maps`);
          const stem = uniqueStem(
            stems,
            path.basename(file).replace(/\.[^.]+$/, '') + (source.pageCount > 1 ? `.p${page}` : ''),
          );
          tiles = await writeTileOutputs(
            opts.outDir,
            stem,
            {
              file,
              page,
              width: image.width,
              height: image.height,
              levels: opts.levels,
              distances: opts.distances,
              angles: opts.angles,
            },
            computed.tiles,
            control.signal,
          );
        }
        const result: ImageFeatures = {
          ok: true,
          file,
          page,
          pages: source.pageCount,
          width: image.width,
          height: image.height,
          bitDepth: image.bitDepth,
          colour: image.colour,
          levels: opts.levels,
          distances: opts.distances,
          angles: opts.angles,
          symmetric: opts.symmetric,
          features: computed.features,
          ...(tiles ? { tiles } : {}),
          ms: Math.round((performance.now() - started) * 10) / 10,
        };
        results.push(result);
        control.onResult?.(result);
      }
    } catch (err) {
      if (isAbortError(err)) throw err;
      const e = err instanceof Error ? err : new Error(String(err));
      const message = e.message.includes(file) ? e.message : `${file}: ${e.message}`;
      const failure: ImageFailure = { ok: false, file, error: { name: e.name, message } };
      results.push(failure);
      control.onResult?.(failure);
    }
  }
  control.onProgress?.(1, 'done');
  return results;
}

function uniqueStem(used: Set<string>, stem: string): string {
  let candidate = stem;
  for (let k = 2; used.has(candidate); k++) candidate = `${stem}-${k}`;
  used.add(candidate);
  return candidate;
}

interface TileMeta {
  file: string;
  page: number;
  width: number;
  height: number;
  levels: number;
  distances: number[];
  /** Degrees. */
  angles: number[];
}

/** Write the per-tile numbers (JSON and CSV, streamed) and one heat map per feature and distance. */
export async function writeTileOutputs(
  outDir: string,
  stem: string,
  meta: TileMeta,
  maps: TileMaps,
  signal?: AbortSignal,
): Promise<TileOutputs> {
  await mkdir(outDir, { recursive: true });
  const jsonPath = path.resolve(outDir, `${stem}.tiles.json`);
  const csvPath = path.resolve(outDir, `${stem}.tiles.csv`);
  const nTiles = maps.cols * maps.rows;
  const nOff = maps.nDistances * maps.nAngles;

  const json = createWriteStream(jsonPath);
  const csv = createWriteStream(csvPath);
  const write = async (stream: NodeJS.WritableStream, chunk: string) => {
    if (!stream.write(chunk)) await once(stream, 'drain');
  };
  try {
    await write(
      json,
      `{"file":${JSON.stringify(meta.file)},"page":${meta.page},"width":${meta.width},"height":${meta.height},` +
        `"tileSize":${maps.tileSize},"cols":${maps.cols},"rows":${maps.rows},"levels":${meta.levels},` +
        `"distances":${JSON.stringify(meta.distances)},"angles":${JSON.stringify(meta.angles)},` +
        `"layout":"each feature is [distance][angle]; tiles in row-major order","tiles":[\n`,
    );
    await write(csv, `col,row,x,y,width,height,distance,angle,${FEATURE_NAMES.join(',')}\n`);
    for (let t = 0; t < nTiles; t++) {
      if ((t & 255) === 0) throwIfAborted(signal, 'writing of tile maps');
      const r = tileRect(maps, meta.width, meta.height, t);
      const base = t * nOff * FEATURE_COUNT;
      const feats = FEATURE_NAMES.map((name, f) => {
        const rows: number[][] = [];
        for (let d = 0; d < maps.nDistances; d++) {
          const row: number[] = [];
          for (let a = 0; a < maps.nAngles; a++)
            row.push(maps.values[base + (d * maps.nAngles + a) * FEATURE_COUNT + f]);
          rows.push(row);
        }
        return `${JSON.stringify(name)}:${JSON.stringify(rows)}`;
      });
      await write(
        json,
        `${t ? ',\n' : ''}{"col":${r.col},"row":${r.row},"x":${r.x},"y":${r.y},"width":${r.width},"height":${r.height},"features":{${feats.join(',')}}}`,
      );
      let lines = '';
      for (let d = 0; d < maps.nDistances; d++) {
        for (let a = 0; a < maps.nAngles; a++) {
          const at = base + (d * maps.nAngles + a) * FEATURE_COUNT;
          const values = Array.from(maps.values.subarray(at, at + FEATURE_COUNT), (v) => String(v));
          lines += `${r.col},${r.row},${r.x},${r.y},${r.width},${r.height},${meta.distances[d]},${meta.angles[a]},${values.join(',')}\n`;
        }
      }
      await write(csv, lines);
    }
    await write(json, '\n]}\n');
  } finally {
    await Promise.all([new Promise((resolve) => json.end(resolve)), new Promise((resolve) => csv.end(resolve))]);
  }

  const pngs = {} as Record<FeatureName, string[]>;
  for (const name of FEATURE_NAMES) {
    pngs[name] = [];
    for (let d = 0; d < maps.nDistances; d++) {
      throwIfAborted(signal, 'writing of tile maps');
      const grid = tileFeatureGrid(maps, name, d, 'mean');
      const title = `${name} d=${meta.distances[d]} tile=${maps.tileSize} (mean of ${maps.nAngles} angle${maps.nAngles > 1 ? 's' : ''})`;
      const heat = renderHeatMap(grid, maps.cols, maps.rows, {
        title,
        extent: { width: meta.width, height: meta.height, tileSize: maps.tileSize },
        text: {
          file: meta.file,
          page: String(meta.page),
          feature: name,
          distance: String(meta.distances[d]),
          angles: meta.angles.join(','),
          tileSize: String(maps.tileSize),
        },
      });
      const file = path.resolve(outDir, `${stem}.${name}.d${meta.distances[d]}.png`);
      await writeFile(file, heat.png);
      pngs[name].push(file);
    }
  }
  return { tileSize: maps.tileSize, cols: maps.cols, rows: maps.rows, json: jsonPath, csv: csvPath, maps: pngs };
}
