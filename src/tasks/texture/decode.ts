/**
 * Image decoding to grey: PNG (fast-png) and TIFF (utif2), 1/2/4/8/16-bit grey, grey+alpha,
 * RGB, RGBA and palette PNGs; TIFF grey (BlackIsZero or WhiteIsZero) and RGB(A), uncompressed,
 * LZW, Deflate or PackBits, strips or tiles; a multi-page TIFF is a stack of pages.
 *
 * Colour is converted to grey with the ITU-R BT.709 luma weights that scikit-image's rgb2gray uses:
 *   grey = round(0.2125 R + 0.7154 G + 0.0721 B), keeping the bit depth (8 or 16); alpha is ignored.
 *
 * Anything corrupt, truncated or unsupported throws an ImageDecodeError whose message names the
 * file and the reason.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { convertIndexedToRgb, decode as decodePng, type DecodedPng } from 'fast-png';
import type * as UTIFTypes from 'utif2';
import { ImageDecodeError } from './errors.js';
import { scanIfdChain } from './tiff.js';
import type { GreyImage } from './types.js';

const require = createRequire(import.meta.url);
let utif: typeof UTIFTypes | undefined;
/** utif2 is loaded on first use: a task that only sees PNGs does not pay for it at start-up. */
function UTIF(): typeof UTIFTypes {
  utif ??= require('utif2') as typeof UTIFTypes;
  return utif;
}

/** Weights of R, G, B in the grey conversion (ITU-R BT.709, as skimage.color.rgb2gray). */
export const RGB_WEIGHTS = Object.freeze({ r: 0.2125, g: 0.7154, b: 0.0721 });

export type ImageFormat = 'png' | 'tiff';

export interface DecodedPage extends GreyImage {
  /** 0-based page index within the file (always 0 for PNG). */
  page: number;
  /** What the source pixels were before conversion to grey. */
  colour: 'grey' | 'grey+alpha' | 'rgb' | 'rgba' | 'palette';
}

/** An opened image file: pages are decoded one at a time, on demand (bounded memory for stacks). */
export interface ImageSource {
  file: string;
  format: ImageFormat;
  pageCount: number;
  decodePage(index: number): DecodedPage;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function detectFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, k) => bytes[k] === b)) return 'png';
  if (bytes.length >= 4 && ((bytes[0] === 0x49 && bytes[1] === 0x49) || (bytes[0] === 0x4d && bytes[1] === 0x4d))) {
    const le = bytes[0] === 0x49;
    const magic = le ? bytes[2] | (bytes[3] << 8) : (bytes[2] << 8) | bytes[3];
    if (magic === 42 || magic === 43) return 'tiff';
  }
  return null;
}

function hexPrefix(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}

/** Open image bytes; `file` names the source in errors. Throws ImageDecodeError. */
export function openImageBytes(bytes: Uint8Array, file: string): ImageSource {
  if (bytes.length === 0) throw new ImageDecodeError(file, 'empty file');
  const format = detectFormat(bytes);
  if (format === 'png') {
    let page: DecodedPage | undefined;
    return {
      file,
      format,
      pageCount: 1,
      decodePage(index) {
        if (index !== 0) throw new RangeError(`${file}: a PNG has one page, asked for page ${index}`);
        page ??= decodePngBytes(bytes, file);
        return page;
      },
    };
  }
  if (format === 'tiff') return openTiff(bytes, file);
  throw new ImageDecodeError(file, `unsupported format: not a PNG or TIFF file (first bytes ${hexPrefix(bytes)})`);
}

/** Read and open an image file. */
export async function openImage(file: string): Promise<ImageSource> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageDecodeError(file, code === 'ENOENT' ? 'no such file' : `cannot read file: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return openImageBytes(bytes, file);
}

/** Decode every page of an image file. */
export async function readImage(file: string): Promise<DecodedPage[]> {
  const source = await openImage(file);
  return Array.from({ length: source.pageCount }, (_, k) => source.decodePage(k));
}

/** Decode every page of image bytes. */
export function decodeImageBytes(bytes: Uint8Array, file = '<buffer>'): DecodedPage[] {
  const source = openImageBytes(bytes, file);
  return Array.from({ length: source.pageCount }, (_, k) => source.decodePage(k));
}

// ---------------------------------------------------------------------------------------------
// Conversions

function rgbToGrey(
  src: ArrayLike<number>,
  channels: number,
  width: number,
  height: number,
  bitDepth: 8 | 16,
): Uint8Array | Uint16Array {
  const n = width * height;
  const out = bitDepth === 16 ? new Uint16Array(n) : new Uint8Array(n);
  const max = bitDepth === 16 ? 65535 : 255;
  const { r: wr, g: wg, b: wb } = RGB_WEIGHTS;
  for (let k = 0, s = 0; k < n; k++, s += channels) {
    const v = Math.round(wr * src[s] + wg * src[s + 1] + wb * src[s + 2]);
    out[k] = v > max ? max : v;
  }
  return out;
}

function firstChannel(src: ArrayLike<number>, channels: number, n: number, bitDepth: 8 | 16): Uint8Array | Uint16Array {
  const out = bitDepth === 16 ? new Uint16Array(n) : new Uint8Array(n);
  for (let k = 0, s = 0; k < n; k++, s += channels) out[k] = src[s];
  return out;
}

/** Unpack 1/2/4-bit samples (rows padded to whole bytes, most significant bits first). */
function unpackBits(
  src: Uint8Array,
  width: number,
  height: number,
  depth: 1 | 2 | 4,
  rowBytes: number,
  invert = false,
): Uint8Array {
  const out = new Uint8Array(width * height);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    const row = y * rowBytes;
    for (let x = 0; x < width; x++) {
      const byte = src[row + Math.floor(x / perByte)];
      const shift = 8 - depth * ((x % perByte) + 1);
      const v = (byte >> shift) & mask;
      out[y * width + x] = invert ? mask - v : v;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PNG

/** Walk the PNG chunk list: a reason when the file is cut short or has no image data, else null. */
export function pngStructureProblem(bytes: Uint8Array): string | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let sawIdat = false;
  while (at < bytes.length) {
    if (at + 8 > bytes.length)
      return `truncated PNG: the file ends inside a chunk header at byte ${at} (${bytes.length} bytes)`;
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]);
    if (!/^[A-Za-z]{4}$/.test(type)) return `corrupt PNG: invalid chunk type at byte ${at}`;
    if (at + 12 + length > bytes.length) {
      return `truncated PNG: chunk ${type} at byte ${at} needs ${length + 12} bytes, the file ends after ${bytes.length - at}`;
    }
    if (type === 'IDAT') sawIdat = true;
    if (type === 'IEND') return sawIdat ? null : 'corrupt PNG: no image data (IDAT) before IEND';
    at += 12 + length;
  }
  return `truncated PNG: no IEND chunk (${bytes.length} bytes)`;
}

function decodePngBytes(bytes: Uint8Array, file: string): DecodedPage {
  const problem = pngStructureProblem(bytes);
  if (problem) throw new ImageDecodeError(file, problem);
  let png: DecodedPng;
  try {
    png = decodePng(bytes, { checkCrc: true });
  } catch (err) {
    throw new ImageDecodeError(file, `corrupt PNG: ${errorMessage(err)}`, { cause: err });
  }
  const { width, height, depth, channels } = png;
  if (!(width > 0 && height > 0)) throw new ImageDecodeError(file, `PNG has an empty size ${width} x ${height}`);
  const n = width * height;
  const data = png.data;
  if (png.palette) {
    const rgb = convertIndexedToRgb(png);
    const ch = rgb.length / n;
    if (ch !== 3 && ch !== 4)
      throw new ImageDecodeError(file, `palette PNG expanded to ${rgb.length} values for ${n} pixels`);
    return { width, height, bitDepth: 8, data: rgbToGrey(rgb, ch, width, height, 8), page: 0, colour: 'palette' };
  }
  if (depth < 8) {
    const rowBytes = Math.ceil((width * depth) / 8);
    if (data.length < rowBytes * height)
      throw new ImageDecodeError(file, `truncated PNG image data (${data.length} of ${rowBytes * height} bytes)`);
    return {
      width,
      height,
      bitDepth: depth,
      data: unpackBits(data as Uint8Array, width, height, depth as 1 | 2 | 4, rowBytes),
      page: 0,
      colour: 'grey',
    };
  }
  const bitDepth = depth as 8 | 16;
  if (data.length < n * channels) {
    throw new ImageDecodeError(file, `truncated PNG image data (${data.length} of ${n * channels} samples)`);
  }
  switch (channels) {
    case 1:
      return {
        width,
        height,
        bitDepth,
        data:
          bitDepth === 16
            ? new Uint16Array(data.buffer, data.byteOffset, n)
            : new Uint8Array(data.buffer, data.byteOffset, n),
        page: 0,
        colour: 'grey',
      };
    case 2:
      return { width, height, bitDepth, data: firstChannel(data, 2, n, bitDepth), page: 0, colour: 'grey+alpha' };
    case 3:
      return { width, height, bitDepth, data: rgbToGrey(data, 3, width, height, bitDepth), page: 0, colour: 'rgb' };
    case 4:
      return { width, height, bitDepth, data: rgbToGrey(data, 4, width, height, bitDepth), page: 0, colour: 'rgba' };
    default:
      throw new ImageDecodeError(file, `unsupported PNG with ${channels} channels`);
  }
}

// ---------------------------------------------------------------------------------------------
// TIFF

const TIFF_COMPRESSIONS: Record<number, string> = {
  1: 'none',
  5: 'LZW',
  8: 'Deflate',
  32946: 'Deflate',
  32773: 'PackBits',
};

function tagNumber(ifd: UTIFTypes.IFD, tag: number, fallback: number): number {
  const v = ifd[`t${tag}`];
  if (v === undefined) return fallback;
  if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
  if (typeof v === 'number') return v;
  return fallback;
}

function tagNumbers(ifd: UTIFTypes.IFD, tag: number): number[] | undefined {
  const v = ifd[`t${tag}`];
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v;
  return undefined;
}

/** utif2 prints to console.log on some paths (tiled images); keep stdout clean (e.g. for --json). */
function quietly<T>(fn: () => T): T {
  const log = console.log;
  console.log = () => {};
  try {
    return fn();
  } finally {
    console.log = log;
  }
}

function openTiff(bytes: Uint8Array, file: string): ImageSource {
  const chain = scanIfdChain(bytes);
  if (typeof chain === 'string') throw new ImageDecodeError(file, chain);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let ifds: UTIFTypes.IFD[];
  try {
    ifds = quietly(() => UTIF().decode(buffer));
  } catch (err) {
    throw new ImageDecodeError(file, `corrupt TIFF: ${errorMessage(err)}`, { cause: err });
  }
  // full-resolution pages only: skip reduced-resolution images (NewSubfileType bit 0) and non-images
  const pages = ifds.filter(
    (ifd) => ifd['t256'] !== undefined && ifd['t257'] !== undefined && (tagNumber(ifd, 254, 0) & 1) === 0,
  );
  if (pages.length === 0) throw new ImageDecodeError(file, 'TIFF has no full-resolution image');
  return {
    file,
    format: 'tiff',
    pageCount: pages.length,
    decodePage(index) {
      const ifd = pages[index];
      if (!ifd) throw new RangeError(`${file}: TIFF has ${pages.length} page(s), asked for page ${index}`);
      return decodeTiffPage(buffer, bytes.length, ifds, ifd, index, pages.length, file);
    },
  };
}

function decodeTiffPage(
  buffer: ArrayBuffer,
  fileSize: number,
  ifds: UTIFTypes.IFD[],
  ifd: UTIFTypes.IFD,
  index: number,
  pageCount: number,
  file: string,
): DecodedPage {
  const where = pageCount > 1 ? `TIFF page ${index}` : 'TIFF';
  const fail = (reason: string, cause?: unknown): never => {
    throw new ImageDecodeError(file, `${where}: ${reason}`, cause === undefined ? undefined : { cause });
  };
  const width = tagNumber(ifd, 256, 0);
  const height = tagNumber(ifd, 257, 0);
  if (!(width > 0 && height > 0)) fail(`invalid size ${width} x ${height}`);
  if (width * height > 2 ** 31) fail(`image too large (${width} x ${height})`);
  const bitsList = tagNumbers(ifd, 258) ?? [1];
  const bps = bitsList[0];
  const spp = tagNumber(ifd, 277, bitsList.length);
  const photometric = tagNumber(ifd, 262, spp >= 3 ? 2 : 1);
  const compression = tagNumber(ifd, 259, 1);
  const planar = tagNumber(ifd, 284, 1);
  const sampleFormats = tagNumbers(ifd, 339) ?? [1];
  if (!(compression in TIFF_COMPRESSIONS)) {
    fail(
      `unsupported compression ${compression}${compression === 7 || compression === 6 ? ' (JPEG)' : ''}; supported: none, LZW, Deflate, PackBits`,
    );
  }
  if (sampleFormats.some((f) => f !== 1)) {
    const names: Record<number, string> = { 2: 'signed integer', 3: 'floating point', 4: 'undefined' };
    fail(
      `unsupported sample format ${names[sampleFormats.find((f) => f !== 1)!] ?? sampleFormats.join(',')} (only unsigned integers)`,
    );
  }
  if (bitsList.some((b) => b !== bps)) fail(`mixed bits per sample ${bitsList.join(',')}`);
  if (planar !== 1 && spp > 1) fail('unsupported planar configuration 2 (separate colour planes)');
  let colour: DecodedPage['colour'];
  if (photometric === 0 || photometric === 1) {
    if (spp !== 1 && spp !== 2) fail(`grey image with ${spp} samples per pixel`);
    if (![1, 2, 4, 8, 16].includes(bps)) fail(`unsupported bit depth ${bps} for a grey image (1, 2, 4, 8 or 16)`);
    colour = spp === 2 ? 'grey+alpha' : 'grey';
  } else if (photometric === 2) {
    if (spp !== 3 && spp !== 4) fail(`RGB image with ${spp} samples per pixel`);
    if (bps !== 8 && bps !== 16) fail(`unsupported bit depth ${bps} for an RGB image (8 or 16)`);
    colour = spp === 4 ? 'rgba' : 'rgb';
  } else {
    const names: Record<number, string> = { 3: 'palette', 4: 'transparency mask', 5: 'CMYK', 6: 'YCbCr', 8: 'CIELab' };
    return fail(
      `unsupported photometric interpretation ${photometric}${names[photometric] ? ` (${names[photometric]})` : ''}`,
    );
  }

  // every strip/tile must lie inside the file (utif2 would silently read zeros past the end)
  const tiled = ifd['t322'] !== undefined;
  const offsets = tagNumbers(ifd, tiled ? 324 : 273);
  const counts = tagNumbers(ifd, tiled ? 325 : 279);
  if (!offsets || offsets.length === 0) fail('no image data (missing strip/tile offsets)');
  const rowBytes = Math.ceil((width * bps * spp) / 8);
  for (let k = 0; k < offsets!.length; k++) {
    let count = counts?.[k];
    if (count === undefined && compression === 1 && !tiled && offsets!.length === 1) count = rowBytes * height;
    if (count === undefined) fail(`missing byte count of ${tiled ? 'tile' : 'strip'} ${k}`);
    if (offsets![k] + count! > fileSize) {
      fail(
        `truncated: ${tiled ? 'tile' : 'strip'} ${k} (${count} bytes at offset ${offsets![k]}) runs past the end of the file (${fileSize} bytes)`,
      );
    }
  }
  if (compression === 1 && !tiled) {
    const total = counts ? counts.reduce((a, b) => a + b, 0) : rowBytes * height;
    if (total < rowBytes * height)
      fail(`truncated: ${total} bytes of strip data for ${rowBytes * height} bytes of pixels`);
  }

  try {
    quietly(() =>
      (UTIF().decodeImage as (b: ArrayBuffer, i: UTIFTypes.IFD, all: UTIFTypes.IFD[]) => void)(buffer, ifd, ifds),
    );
  } catch (err) {
    fail(`corrupt image data: ${errorMessage(err)}`, err);
  }
  const raw = ifd.data as Uint8Array | undefined;
  if (!raw || raw.length < rowBytes * height)
    fail(`corrupt or truncated image data (${raw?.length ?? 0} of ${rowBytes * height} bytes)`);
  const n = width * height;
  const samples = spp === 0 ? 1 : spp;
  const invert = photometric === 0;
  let data: Uint8Array | Uint16Array;
  let bitDepth: GreyImage['bitDepth'];
  if (bps < 8) {
    data = unpackBits(raw!, width, height, bps as 1 | 2 | 4, rowBytes, invert);
    bitDepth = bps as 1 | 2 | 4;
  } else {
    bitDepth = bps as 8 | 16;
    let values: ArrayLike<number>;
    if (bps === 16) {
      // utif2 leaves 16-bit samples little-endian
      const v = new Uint16Array(n * samples);
      for (let k = 0; k < v.length; k++) v[k] = raw![2 * k] | (raw![2 * k + 1] << 8);
      values = v;
    } else {
      values = raw!;
    }
    if (colour === 'rgb' || colour === 'rgba') data = rgbToGrey(values, samples, width, height, bitDepth);
    else data = firstChannel(values, samples, n, bitDepth);
    if (invert) {
      const max = 2 ** bps - 1;
      for (let k = 0; k < n; k++) data[k] = max - data[k];
    }
  }
  // free utif2's copy of the pixels: pages are decoded one at a time
  delete (ifd as { data?: Uint8Array }).data;
  return { width, height, bitDepth, data, page: index, colour };
}
