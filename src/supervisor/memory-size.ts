/**
 * Memory sizes as people write them: "512M", "2G", "1.5GiB", "800000000". Units are binary
 * (K = 1024, as `ulimit`, systemd's MemoryMax= and Docker's --memory read them).
 */
const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** Bytes for a size, or a RangeError saying what is wrong with it. */
export function parseMemorySize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!match)
    throw new RangeError(
      `"${text}" is not a memory size: write it like 512M, 2G or 1.5GiB (binary units) or a number of bytes`,
    );
  const bytes = Math.floor(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`memory size "${text}" is too large`);
  return bytes;
}
