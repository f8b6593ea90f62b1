/**
 * Small TIFF helpers: a safe scan of the IFD chain (bounds and cycles, before utif2 walks it) and a
 * minimal baseline writer for grey stacks (uncompressed, 8- or 16-bit, one strip per page).
 */
import type { GreyImage } from './types.js';

export interface IfdChainInfo {
  littleEndian: boolean;
  /** Offsets of the IFDs in the main chain. */
  offsets: number[];
}

/** Walk the main IFD chain; returns a reason string when the structure is broken. */
export function scanIfdChain(bytes: Uint8Array, maxPages = 100_000): IfdChainInfo | string {
  if (bytes.length < 8) return `truncated TIFF header (${bytes.length} bytes)`;
  const le = bytes[0] === 0x49;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint16(2, le);
  if (magic === 43) return 'BigTIFF is not supported';
  if (magic !== 42) return `bad TIFF magic number ${magic}`;
  const offsets: number[] = [];
  const seen = new Set<number>();
  let ifd = view.getUint32(4, le);
  if (ifd === 0) return 'TIFF has no image directory';
  while (ifd !== 0) {
    if (seen.has(ifd)) return `corrupt TIFF: image directory chain loops back to offset ${ifd}`;
    if (ifd + 2 > bytes.length)
      return `truncated TIFF: image directory ${offsets.length} at offset ${ifd} lies beyond the end of the file (${bytes.length} bytes)`;
    const count = view.getUint16(ifd, le);
    const end = ifd + 2 + count * 12 + 4;
    if (end > bytes.length)
      return `truncated TIFF: image directory ${offsets.length} (${count} entries at offset ${ifd}) runs past the end of the file (${bytes.length} bytes)`;
    seen.add(ifd);
    offsets.push(ifd);
    if (offsets.length > maxPages) return `TIFF has more than ${maxPages} pages`;
    ifd = view.getUint32(ifd + 2 + count * 12, le);
  }
  return { littleEndian: le, offsets };
}

/**
 * Encode grey pages (8- or 16-bit) as a baseline TIFF: uncompressed, BlackIsZero, one strip per
 * page, each page a full-resolution image (a stack).
 */
export function encodeGreyTiff(pages: readonly GreyImage[], littleEndian = true): Uint8Array {
  if (pages.length === 0) throw new RangeError('encodeGreyTiff needs at least one page');
  const TAGS = 10;
  const ifdSize = 2 + TAGS * 12 + 4;
  let size = 8;
  const layout = pages.map((p) => {
    if (p.bitDepth !== 8 && p.bitDepth !== 16)
      throw new RangeError(`encodeGreyTiff supports 8- and 16-bit pages, got ${p.bitDepth}`);
    const ifdAt = size;
    size += ifdSize;
    size += size & 1;
    const dataAt = size;
    const dataBytes = p.width * p.height * (p.bitDepth / 8);
    size += dataBytes;
    size += size & 1;
    return { ifdAt, dataAt, dataBytes };
  });
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  const le = littleEndian;
  out[0] = out[1] = le ? 0x49 : 0x4d;
  view.setUint16(2, 42, le);
  view.setUint32(4, layout[0].ifdAt, le);
  pages.forEach((p, k) => {
    const { ifdAt, dataAt, dataBytes } = layout[k];
    let at = ifdAt;
    view.setUint16(at, TAGS, le);
    at += 2;
    const entry = (tag: number, type: 3 | 4, value: number) => {
      view.setUint16(at, tag, le);
      view.setUint16(at + 2, type, le);
      view.setUint32(at + 4, 1, le);
      if (type === 3) view.setUint16(at + 8, value, le);
      else view.setUint32(at + 8, value, le);
      at += 12;
    };
    entry(256, 4, p.width); // ImageWidth
    entry(257, 4, p.height); // ImageLength
    entry(258, 3, p.bitDepth); // BitsPerSample
    entry(259, 3, 1); // Compression: none
    entry(262, 3, 1); // Photometric: BlackIsZero
    entry(273, 4, dataAt); // StripOffsets
    entry(277, 3, 1); // SamplesPerPixel
    entry(278, 4, p.height); // RowsPerStrip
    entry(279, 4, dataBytes); // StripByteCounts
    entry(339, 3, 1); // SampleFormat: unsigned integer
    view.setUint32(at, k + 1 < pages.length ? layout[k + 1].ifdAt : 0, le);
    if (p.bitDepth === 8) out.set(p.data, dataAt);
    else for (let i = 0; i < p.data.length; i++) view.setUint16(dataAt + 2 * i, p.data[i], le);
  });
  return out;
}
