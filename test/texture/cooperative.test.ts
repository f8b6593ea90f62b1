/** Cancellation and progress of the cooperative driver, on a real (large) computation. */
import { describe, expect, it } from 'vitest';
import { computeTexture, textureFeatures } from '../../src/tasks/texture/compute.js';
import { AbortError } from '../../src/tasks/texture/errors.js';
import type { GreyImage } from '../../src/tasks/texture/types.js';
import { rng } from './helpers.js';

function noise(width: number, height: number, seed: number): GreyImage {
  const r = rng(seed);
  const data = new Uint8Array(width * height);
  for (let k = 0; k < data.length; k++) data[k] = (r() * 256) | 0;
  return { width, height, bitDepth: 8, data };
}

const big = noise(2048, 2048, 1);
const OPTIONS = { levels: 256, distances: [1, 3], angles: [0, Math.PI / 4, Math.PI / 2, (3 * Math.PI) / 4] };

describe('cooperative computation', () => {
  it('gives the same features as the synchronous path, with progress rising to 1', async () => {
    const small = noise(700, 500, 2);
    const fractions: number[] = [];
    const result = await computeTexture(small, OPTIONS, { onProgress: (f) => fractions.push(f), yieldEveryMs: 0 });
    expect(result.features).toEqual(textureFeatures(small, OPTIONS).features);
    expect(fractions.length).toBeGreaterThan(3);
    expect(fractions.every((f, k) => f >= 0 && f <= 1 && (k === 0 || f >= fractions[k - 1]))).toBe(true);
    expect(fractions.at(-1)).toBe(1);
  });

  it('yields to the event loop every few milliseconds of compute (progress between)', async () => {
    // CPU time, not wall time: on a loaded machine the process may be descheduled between yields
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const stamps: number[] = [];
    await computeTexture(big, OPTIONS, { onProgress: () => stamps.push(cpuMs()) });
    const gaps = stamps
      .slice(1)
      .map((t, k) => t - stamps[k])
      .sort((a, b) => a - b);
    expect(stamps.length).toBeGreaterThan(5);
    // the driver yields after >= 5 ms of wall time; a step is well under a millisecond or two of compute
    expect(gaps[Math.floor(gaps.length / 2)]).toBeLessThan(12);
    expect(gaps[Math.floor(gaps.length * 0.9)]).toBeLessThan(20);
  });

  it('an abort mid-computation rejects with an AbortError within milliseconds', async () => {
    const controller = new AbortController();
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    let abortedAt = 0;
    let abortedCpu = 0;
    let progressBeforeAbort = 0;
    const started = performance.now();
    const run = computeTexture(big, OPTIONS, {
      signal: controller.signal,
      onProgress: (f) => {
        progressBeforeAbort = f;
        if (!abortedAt && performance.now() - started > 15) {
          // abort from a timer, as an IPC message would arrive: between two compute blocks
          setTimeout(() => {
            abortedAt = performance.now();
            abortedCpu = cpuMs();
            controller.abort(new Error('user pressed k'));
          }, 0);
        }
      },
    });
    const err = await run.then(
      () => null,
      (e: unknown) => e,
    );
    const latency = performance.now() - abortedAt;
    const cpuAfterAbort = cpuMs() - abortedCpu;
    expect(err).toBeInstanceOf(AbortError);
    expect((err as Error).name).toBe('AbortError');
    expect((err as Error).message).toMatch(/aborted: user pressed k/);
    expect(abortedAt).toBeGreaterThan(0);
    expect(progressBeforeAbort).toBeGreaterThan(0);
    expect(progressBeforeAbort).toBeLessThan(1);
    // the abort is seen after the macrotask, before any further block: CPU time spent after abort()
    // stays within a few ms (wall time is 1-5 ms on a quiet machine, more when others load it)
    expect(cpuAfterAbort).toBeLessThan(30);
    expect(latency).toBeLessThan(1000);
  });

  it('an already aborted signal rejects at once', async () => {
    const controller = new AbortController();
    controller.abort();
    let progressed = false;
    await expect(
      computeTexture(big, OPTIONS, {
        signal: controller.signal,
        onProgress: () => {
          progressed = true;
        },
      }),
    ).rejects.toBeInstanceOf(AbortError);
    expect(progressed).toBe(false); // nothing was computed
  });

  it('options are validated with precise errors', () => {
    const img = noise(8, 8, 3);
    expect(() => textureFeatures(img, { levels: 1 })).toThrow(RangeError);
    expect(() => textureFeatures(img, { levels: 1 })).toThrow('levels must be between 2 and 4096');
    expect(() => textureFeatures(img, { levels: 2.5 })).toThrow('levels must be an integer, got 2.5');
    expect(() => textureFeatures(img, { levels: '8' as unknown as number })).toThrow(TypeError);
    expect(() => textureFeatures(img, { distances: [] })).toThrow('distances must not be empty');
    expect(() => textureFeatures(img, { distances: [1, 0] })).toThrow('distances[1] must be a positive integer, got 0');
    expect(() => textureFeatures(img, { angles: [0, Number.NaN] })).toThrow('angles[1] must be finite');
    expect(() => textureFeatures(img, { angles: 0 as unknown as number[] })).toThrow(TypeError);
    expect(() => textureFeatures({ ...img, data: new Uint8Array(3) })).toThrow(
      'image data has 3 values, expected width * height = 64',
    );
    expect(() => textureFeatures({ width: 2, height: 1, bitDepth: 4, data: Uint8Array.from([1, 16]) })).toThrow(
      'exceeds 15',
    );
    expect(() => textureFeatures(img, { levels: 16, requantize: false })).toThrow(
      /every value must be below levels \(16\)/,
    );
  });

  it('requantization: 16-bit at levels 256 is v >> 8; values pass through when levels >= 2^bits', () => {
    const img16: GreyImage = { width: 4, height: 1, bitDepth: 16, data: Uint16Array.from([0, 255, 256, 65535]) };
    const img8: GreyImage = { width: 4, height: 1, bitDepth: 8, data: Uint8Array.from([0, 0, 1, 255]) };
    const a = textureFeatures(img16, { distances: [1], angles: [0] });
    const b = textureFeatures(img8, { distances: [1], angles: [0] });
    expect(a.features).toEqual(b.features);
    const c = textureFeatures(img8, { levels: 512, distances: [1], angles: [0] });
    expect(c.features.contrast).toEqual(b.features.contrast);
  });
});
