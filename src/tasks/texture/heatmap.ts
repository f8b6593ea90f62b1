/**
 * Heat-map PNGs of per-tile features: a viridis-like colour map, a colour scale (legend bar) with
 * its min / mid / max values and a title drawn in with a tiny built-in 5x7 bitmap font, written
 * with fast-png (8-bit RGB). Pure functions; no canvas dependency.
 */
import { encode as encodePng } from 'fast-png';

/** Matplotlib's viridis sampled at 10 evenly spaced stops (R's viridis(10)); linear in between. */
const VIRIDIS_STOPS: readonly [number, number, number][] = [
  [0x44, 0x01, 0x54],
  [0x48, 0x28, 0x78],
  [0x3e, 0x4a, 0x89],
  [0x31, 0x68, 0x8e],
  [0x26, 0x82, 0x8e],
  [0x1f, 0x9e, 0x89],
  [0x35, 0xb7, 0x79],
  [0x6d, 0xcd, 0x59],
  [0xb4, 0xde, 0x2c],
  [0xfd, 0xe7, 0x25],
];

/** Colour of t in [0, 1] (clamped) on the viridis-like scale: dark purple (low) to yellow (high). */
export function viridis(t: number): [number, number, number] {
  if (!Number.isFinite(t)) return [128, 128, 128];
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS_STOPS.length - 1);
  const k = Math.min(VIRIDIS_STOPS.length - 2, Math.floor(x));
  const f = x - k;
  const a = VIRIDIS_STOPS[k],
    b = VIRIDIS_STOPS[k + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as [number, number, number];
}

// 5x7 glyphs, 7 rows top to bottom, 5 bits each (bit 4 = leftmost column).
const GLYPHS: Record<string, string> = {
  '0': '01110 10001 10011 10101 11001 10001 01110',
  '1': '00100 01100 00100 00100 00100 00100 01110',
  '2': '01110 10001 00001 00010 00100 01000 11111',
  '3': '11111 00010 00100 00010 00001 10001 01110',
  '4': '00010 00110 01010 10010 11111 00010 00010',
  '5': '11111 10000 11110 00001 00001 10001 01110',
  '6': '00110 01000 10000 11110 10001 10001 01110',
  '7': '11111 00001 00010 00100 01000 01000 01000',
  '8': '01110 10001 10001 01110 10001 10001 01110',
  '9': '01110 10001 10001 01111 00001 00010 01100',
  '.': '00000 00000 00000 00000 00000 01100 01100',
  '-': '00000 00000 00000 11111 00000 00000 00000',
  '+': '00000 00100 00100 11111 00100 00100 00000',
  '=': '00000 00000 11111 00000 11111 00000 00000',
  '(': '00010 00100 01000 01000 01000 00100 00010',
  ')': '01000 00100 00010 00010 00010 00100 01000',
  ',': '00000 00000 00000 00000 01100 00100 01000',
  ':': '00000 01100 01100 00000 01100 01100 00000',
  '/': '00000 00001 00010 00100 01000 10000 00000',
  _: '00000 00000 00000 00000 00000 00000 11111',
  ' ': '00000 00000 00000 00000 00000 00000 00000',
  a: '00000 00000 01110 00001 01111 10001 01111',
  b: '10000 10000 10110 11001 10001 10001 11110',
  c: '00000 00000 01110 10000 10000 10001 01110',
  d: '00001 00001 01101 10011 10001 10001 01111',
  e: '00000 00000 01110 10001 11111 10000 01110',
  f: '00110 01001 01000 11100 01000 01000 01000',
  g: '00000 00000 01111 10001 01111 00001 01110',
  h: '10000 10000 10110 11001 10001 10001 10001',
  i: '00100 00000 01100 00100 00100 00100 01110',
  j: '00010 00000 00110 00010 00010 10010 01100',
  k: '10000 10000 10010 10100 11000 10100 10010',
  l: '01100 00100 00100 00100 00100 00100 01110',
  m: '00000 00000 11010 10101 10101 10001 10001',
  n: '00000 00000 10110 11001 10001 10001 10001',
  o: '00000 00000 01110 10001 10001 10001 01110',
  p: '00000 00000 11110 10001 11110 10000 10000',
  q: '00000 00000 01101 10011 01111 00001 00001',
  r: '00000 00000 10110 11001 10000 10000 10000',
  s: '00000 00000 01110 10000 01110 00001 11110',
  t: '01000 01000 11100 01000 01000 01001 00110',
  u: '00000 00000 10001 10001 10001 10011 01101',
  v: '00000 00000 10001 10001 10001 01010 00100',
  w: '00000 00000 10001 10001 10101 10101 01010',
  x: '00000 00000 10001 01010 00100 01010 10001',
  y: '00000 00000 10001 10001 01111 00001 01110',
  z: '00000 00000 11111 00010 00100 01000 11111',
  A: '01110 10001 10001 11111 10001 10001 10001',
  S: '01111 10000 10000 01110 00001 00001 11110',
  M: '10001 11011 10101 10101 10001 10001 10001',
  E: '11111 10000 10000 11110 10000 10000 11111',
  N: '10001 11001 10101 10011 10001 10001 10001',
  I: '01110 00100 00100 00100 00100 00100 01110',
};
const GLYPH_W = 5,
  GLYPH_H = 7,
  ADVANCE = 6;

class Raster {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    background: [number, number, number] = [255, 255, 255],
  ) {
    this.data = new Uint8Array(width * height * 3);
    if (background[0] === background[1] && background[1] === background[2]) this.data.fill(background[0]);
    else for (let k = 0; k < width * height; k++) this.data.set(background, k * 3);
  }
  fill(x: number, y: number, w: number, h: number, rgb: readonly number[]): void {
    const x0 = Math.max(0, x),
      y0 = Math.max(0, y),
      x1 = Math.min(this.width, x + w),
      y1 = Math.min(this.height, y + h);
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const k = (yy * this.width + xx) * 3;
        this.data[k] = rgb[0];
        this.data[k + 1] = rgb[1];
        this.data[k + 2] = rgb[2];
      }
    }
  }
  rect(x: number, y: number, w: number, h: number, rgb: readonly number[]): void {
    this.fill(x, y, w, 1, rgb);
    this.fill(x, y + h - 1, w, 1, rgb);
    this.fill(x, y, 1, h, rgb);
    this.fill(x + w - 1, y, 1, h, rgb);
  }
  text(s: string, x: number, y: number, scale = 1, rgb: readonly number[] = [0, 0, 0]): void {
    let cx = x;
    for (const ch of s) {
      const glyph = GLYPHS[ch] ?? GLYPHS[ch.toLowerCase()] ?? GLYPHS[ch.toUpperCase()];
      if (glyph) {
        glyph.split(' ').forEach((row, gy) => {
          for (let gx = 0; gx < GLYPH_W; gx++)
            if (row[gx] === '1') this.fill(cx + gx * scale, y + gy * scale, scale, scale, rgb);
        });
      } else {
        this.rect(cx, y, GLYPH_W * scale, GLYPH_H * scale, rgb);
      }
      cx += ADVANCE * scale;
    }
  }
}

export function textWidth(s: string, scale = 1): number {
  return Math.max(0, [...s].length * ADVANCE * scale - scale);
}

/** A compact number label: 4 significant digits, exponent form for very large or small magnitudes. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(4)));
}

export interface HeatMapOptions {
  /** Title drawn above the map, e.g. 'contrast d=1 (mean of 4 angles)'. */
  title?: string;
  /** Target size of the map's longer side in pixels (each tile is drawn as a square block). Default 512. */
  targetSize?: number;
  /** Extra PNG tEXt entries. */
  text?: Record<string, string>;
  /**
   * The image the grid covers, when its tiles are tileSize pixels square: the last column and row
   * of tiles are then drawn as narrow as they are (an image of 500 px in tiles of 128 has a last
   * column 116 px wide, drawn 116/128 of a cell wide). Without it every tile is a full square.
   */
  extent?: { width: number; height: number; tileSize: number };
}

export interface HeatMap {
  png: Uint8Array;
  width: number;
  height: number;
  min: number;
  max: number;
  /** Pixels per tile side in the drawn map (a ragged last column or row is narrower, see extent). */
  cell: number;
  /** Size of the drawn map (without title and colour bar), and where it starts in the PNG. */
  map: { x: number; y: number; width: number; height: number };
}

/**
 * Render a cols x rows grid of values (row-major) as a heat map with a colour scale.
 * Low values are dark purple, high values yellow; non-finite values grey.
 */
export function renderHeatMap(
  grid: ArrayLike<number>,
  cols: number,
  rows: number,
  options: HeatMapOptions = {},
): HeatMap {
  if (!(cols >= 1 && rows >= 1) || grid.length !== cols * rows) {
    throw new RangeError(`heat map grid has ${grid.length} values, expected ${cols} x ${rows}`);
  }
  let min = Infinity,
    max = -Infinity;
  for (let k = 0; k < grid.length; k++) {
    const v = grid[k];
    if (Number.isFinite(v)) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (min === Infinity) {
    min = 0;
    max = 0;
  }
  const target = options.targetSize ?? 512;
  const cell = Math.min(64, Math.max(1, Math.floor(target / Math.max(cols, rows))));
  // Where each column and row ends: full cells, the last one as wide as its tile is (at least 1 px).
  const edge = (k: number, n: number, size: number | undefined): number => {
    const full = (k + 1) * cell;
    if (k < n - 1 || size === undefined || !options.extent) return full;
    const ragged = size - k * options.extent.tileSize;
    return ragged >= options.extent.tileSize || ragged <= 0
      ? full
      : k * cell + Math.max(1, Math.round((ragged / options.extent.tileSize) * cell));
  };
  const mapW = edge(cols - 1, cols, options.extent?.width),
    mapH = edge(rows - 1, rows, options.extent?.height);
  const pad = 10;
  const title = options.title ?? '';
  const titleScale = textWidth(title, 2) <= mapW + 120 ? 2 : 1;
  const titleH = title ? GLYPH_H * titleScale + 8 : 0;
  const barH = Math.max(mapH, 120);
  const barW = 18;
  const labels = [max, (min + max) / 2, min].map(formatValue);
  const labelW = Math.max(...labels.map((l) => textWidth(l, 1)));
  const width = Math.max(pad + mapW + 14 + barW + 6 + labelW + pad, pad + textWidth(title, titleScale) + pad);
  const height = pad + titleH + Math.max(mapH, barH) + pad;
  const img = new Raster(width, height);
  if (title) img.text(title, pad, pad, titleScale);
  const top = pad + titleH;
  const span = max - min;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = grid[r * cols + c];
      const t = span > 0 ? (v - min) / span : 0.5;
      const x = c * cell,
        y = r * cell;
      const w = edge(c, cols, options.extent?.width) - x,
        h = edge(r, rows, options.extent?.height) - y;
      img.fill(pad + x, top + y, w, h, Number.isFinite(v) ? viridis(t) : [128, 128, 128]);
    }
  }
  // legend bar: max at the top, min at the bottom
  const barX = pad + mapW + 14;
  for (let y = 0; y < barH; y++) img.fill(barX, top + y, barW, 1, viridis(1 - y / Math.max(1, barH - 1)));
  img.rect(barX - 1, top - 1, barW + 2, barH + 2, [0, 0, 0]);
  const lx = barX + barW + 6;
  img.text(labels[0], lx, top, 1);
  img.text(labels[1], lx, top + Math.round(barH / 2 - GLYPH_H / 2), 1);
  img.text(labels[2], lx, top + barH - GLYPH_H, 1);
  const png = encodePng({
    width,
    height,
    data: img.data,
    channels: 3,
    depth: 8,
    text: {
      Software: 'taskwarden texture',
      min: String(min),
      max: String(max),
      ...(title ? { Title: title } : {}),
      ...(options.text ?? {}),
    },
  });
  return { png, width, height, min, max, cell, map: { x: pad, y: top, width: mapW, height: mapH } };
}
