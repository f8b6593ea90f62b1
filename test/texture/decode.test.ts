import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encode as encodePng } from 'fast-png';
import { createRequire } from 'node:module';
import { RGB_WEIGHTS, decodeImageBytes, readImage } from '../../src/tasks/texture/decode.js';
import { ImageDecodeError } from '../../src/tasks/texture/errors.js';
import { encodeGreyTiff } from '../../src/tasks/texture/tiff.js';
import { assetsDir, rng, tempDir } from './helpers.js';

const require = createRequire(import.meta.url);
const UTIF = require('utif2') as typeof import('utif2');

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const file = (name: string) => path.join(tmp.dir, name);

function ramp8(w: number, h: number): Uint8Array {
  const d = new Uint8Array(w * h);
  for (let k = 0; k < d.length; k++) d[k] = (k * 7) & 255;
  return d;
}
function ramp16(w: number, h: number): Uint16Array {
  const d = new Uint16Array(w * h);
  for (let k = 0; k < d.length; k++) d[k] = (k * 2741) & 0xffff;
  return d;
}

describe('PNG decoding', () => {
  it('8-bit grey as is', async () => {
    const data = ramp8(13, 7);
    writeFileSync(file('g8.png'), encodePng({ width: 13, height: 7, data, channels: 1, depth: 8 }));
    const [page] = await readImage(file('g8.png'));
    expect(page).toMatchObject({ width: 13, height: 7, bitDepth: 8, page: 0, colour: 'grey' });
    expect(page.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(page.data)).toEqual(Array.from(data));
  });

  it('16-bit grey as is', async () => {
    const data = ramp16(9, 5);
    writeFileSync(file('g16.png'), encodePng({ width: 9, height: 5, data, channels: 1, depth: 16 }));
    const [page] = await readImage(file('g16.png'));
    expect(page).toMatchObject({ width: 9, height: 5, bitDepth: 16 });
    expect(page.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(page.data)).toEqual(Array.from(data));
  });

  it('RGB and RGBA to grey with the BT.709 weights of skimage rgb2gray (0.2125, 0.7154, 0.0721), rounded', async () => {
    expect(RGB_WEIGHTS).toEqual({ r: 0.2125, g: 0.7154, b: 0.0721 });
    const pixels = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [10, 200, 30],
      [255, 255, 255],
      [0, 0, 0],
    ];
    const rgb = Uint8Array.from(pixels.flat());
    const rgba = Uint8Array.from(pixels.flatMap((p) => [...p, 17]));
    writeFileSync(file('rgb.png'), encodePng({ width: 6, height: 1, data: rgb, channels: 3, depth: 8 }));
    writeFileSync(file('rgba.png'), encodePng({ width: 6, height: 1, data: rgba, channels: 4, depth: 8 }));
    // round(0.2125*255)=54, round(0.7154*255)=182, round(0.0721*255)=18, round(2.125+143.08+2.163)=147
    const expected = [54, 182, 18, 147, 255, 0];
    for (const name of ['rgb.png', 'rgba.png']) {
      const [page] = await readImage(file(name));
      expect(page.bitDepth).toBe(8);
      expect(Array.from(page.data)).toEqual(expected);
    }
    const rgb16 = Uint16Array.from([65535, 0, 0, 0, 0, 65535, 1000, 2000, 3000]);
    writeFileSync(file('rgb16.png'), encodePng({ width: 3, height: 1, data: rgb16, channels: 3, depth: 16 }));
    const [p16] = await readImage(file('rgb16.png'));
    expect(p16.bitDepth).toBe(16);
    expect(Array.from(p16.data)).toEqual([
      Math.round(0.2125 * 65535),
      Math.round(0.0721 * 65535),
      Math.round(212.5 + 1430.8 + 216.3),
    ]);
  });

  it('grey + alpha keeps the grey channel; 4-bit grey is unpacked', async () => {
    writeFileSync(
      file('ga.png'),
      encodePng({ width: 2, height: 1, data: Uint8Array.from([10, 0, 200, 255]), channels: 2, depth: 8 }),
    );
    expect(Array.from((await readImage(file('ga.png')))[0].data)).toEqual([10, 200]);
    const [brick] = await readImage(path.join(assetsDir, 'brick.png'));
    expect(brick).toMatchObject({ width: 512, height: 512, bitDepth: 8, colour: 'grey' });
  });
});

describe('TIFF decoding', () => {
  it('8-bit and 16-bit grey, little-endian (own writer) and big-endian', async () => {
    const g8 = { width: 11, height: 4, bitDepth: 8 as const, data: ramp8(11, 4) };
    const g16 = { width: 6, height: 3, bitDepth: 16 as const, data: ramp16(6, 3) };
    writeFileSync(file('g8.tif'), encodeGreyTiff([g8]));
    writeFileSync(file('g16be.tif'), encodeGreyTiff([g16], false));
    const [a] = await readImage(file('g8.tif'));
    expect(a).toMatchObject({ width: 11, height: 4, bitDepth: 8 });
    expect(Array.from(a.data)).toEqual(Array.from(g8.data));
    const [b] = await readImage(file('g16be.tif'));
    expect(b).toMatchObject({ width: 6, height: 3, bitDepth: 16 });
    expect(b.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(b.data)).toEqual(Array.from(g16.data));
  });

  it('a multi-page TIFF is a stack: every page decoded, in order', async () => {
    const r = rng(7);
    const pages = [0, 1, 2].map((k) => ({
      width: 8 + k,
      height: 5,
      bitDepth: 16 as const,
      data: Uint16Array.from({ length: (8 + k) * 5 }, () => Math.floor(r() * 65536)),
    }));
    writeFileSync(file('stack.tif'), encodeGreyTiff(pages));
    const decoded = await readImage(file('stack.tif'));
    expect(decoded.map((p) => [p.page, p.width, p.height])).toEqual([
      [0, 8, 5],
      [1, 9, 5],
      [2, 10, 5],
    ]);
    decoded.forEach((p, k) => expect(Array.from(p.data)).toEqual(Array.from(pages[k].data)));
  });

  it('RGBA TIFF written by utif2 to grey with the same weights', async () => {
    const rgba = Uint8Array.from([255, 0, 0, 255, 0, 255, 0, 255, 10, 200, 30, 255]);
    writeFileSync(file('rgba.tif'), new Uint8Array(UTIF.encodeImage(rgba, 3, 1)));
    const [page] = await readImage(file('rgba.tif'));
    expect(page).toMatchObject({ width: 3, height: 1, bitDepth: 8, colour: 'rgba' });
    expect(Array.from(page.data)).toEqual([54, 182, 147]);
  });
});

describe('bad files give an error naming the file and the reason', () => {
  const expectDecodeError = async (name: string, bytes: Uint8Array, reason: RegExp) => {
    writeFileSync(file(name), bytes);
    const err = await readImage(file(name)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ImageDecodeError);
    expect((err as Error).message).toContain(file(name));
    expect((err as Error).message).toMatch(reason);
    return err as ImageDecodeError;
  };
  const png = encodePng({ width: 64, height: 64, data: ramp8(64, 64), channels: 1, depth: 8 });

  it('missing file', async () => {
    const err = await readImage(file('nope.png')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageDecodeError);
    expect((err as Error).message).toBe(`${file('nope.png')}: no such file`);
  });
  it('empty file', () => expectDecodeError('empty.png', new Uint8Array(0), /empty file/));
  it('unsupported format', () =>
    expectDecodeError(
      'text.png',
      new TextEncoder().encode('hello, not an image'),
      /unsupported format: not a PNG or TIFF/,
    ));
  it('truncated PNG', async () => {
    await expectDecodeError('trunc.png', png.subarray(0, Math.floor(png.length / 2)), /truncated PNG: chunk IDAT/);
    await expectDecodeError('trunc-end.png', png.subarray(0, png.length - 12), /truncated PNG: no IEND/);
  });
  it('corrupt PNG (flipped bytes in the image data)', () => {
    const bad = png.slice();
    for (let k = 60; k < bad.length - 20; k += 7) bad[k] ^= 0x5a;
    return expectDecodeError('corrupt.png', bad, /corrupt PNG/);
  });
  it('truncated TIFF (strip runs past the end)', () => {
    const tif = encodeGreyTiff([{ width: 32, height: 32, bitDepth: 8, data: ramp8(32, 32) }]);
    return expectDecodeError('trunc.tif', tif.subarray(0, tif.length - 100), /truncated: strip 0/);
  });
  it('truncated TIFF (directory cut off)', () => {
    const tif = encodeGreyTiff([{ width: 32, height: 32, bitDepth: 8, data: ramp8(32, 32) }]);
    return expectDecodeError('trunc2.tif', tif.subarray(0, 20), /truncated TIFF/);
  });
  it('TIFF with a looping directory chain', () => {
    const tif = encodeGreyTiff([{ width: 4, height: 4, bitDepth: 8, data: ramp8(4, 4) }]);
    const view = new DataView(tif.buffer);
    const ifd = view.getUint32(4, true);
    view.setUint32(ifd + 2 + view.getUint16(ifd, true) * 12, ifd, true); // next IFD = itself
    return expectDecodeError('loop.tif', tif, /loops back/);
  });
  it('unsupported TIFF sample format (float)', () => {
    const tif = encodeGreyTiff([{ width: 4, height: 4, bitDepth: 16, data: ramp16(4, 4) }]);
    const view = new DataView(tif.buffer);
    const ifd = view.getUint32(4, true);
    const n = view.getUint16(ifd, true);
    for (let e = 0; e < n; e++)
      if (view.getUint16(ifd + 2 + e * 12, true) === 339) view.setUint16(ifd + 2 + e * 12 + 8, 3, true);
    return expectDecodeError('float.tif', tif, /unsupported sample format floating point/);
  });
  it('decodeImageBytes names the given file too', () => {
    expect(() => decodeImageBytes(new Uint8Array([1, 2, 3]), 'buffer.png')).toThrow(/^buffer\.png: unsupported format/);
  });
  it('the brick asset is a valid PNG (sanity for the fixtures above)', () => {
    expect(readFileSync(path.join(assetsDir, 'brick.png')).subarray(1, 4).toString()).toBe('PNG');
  });
});
