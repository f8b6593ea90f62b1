/** The `texture` command: JSON/CSV/text output, exit codes, usage errors, Ctrl+C (SIGINT) -> 130. */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
// the compiled command: its Supervisor spawns the compiled runner host (`npm test` builds first)
import { runTextureCommand, registerTextureCommand, EXIT_INTERRUPTED } from '../../src/cli/commands/texture.js';
import { encodeGreyTiff } from '../../src/tasks/texture/tiff.js';
import { FEATURE_NAMES } from '../../src/tasks/texture/types.js';
import { assetsDir, rng, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const brick = path.join(assetsDir, 'brick.png');
const grass = path.join(assetsDir, 'grass.png');

function capture() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '',
    err = '';
  stdout.on('data', (d) => {
    out += d;
  });
  stderr.on('data', (d) => {
    err += d;
  });
  return { io: { stdout, stderr, concurrency: 2 }, out: () => out, err: () => err };
}

/** Runner processes of this test process seen while the watch lasts (/proc, every few ms; a sample can miss one, never invent one). */
function watchRunners(): { stop: () => Set<number> } {
  const seen = new Set<number>();
  const look = () => {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name) || seen.has(Number(name))) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
        if (readFileSync(`/proc/${name}/cmdline`, 'latin1').includes('runner/host.js')) seen.add(Number(name));
      } catch {
        // exited meanwhile
      }
    }
  };
  const timer = setInterval(look, 5);
  return { stop: () => (clearInterval(timer), look(), seen) };
}

// Output tests run the analysis at normal priority: on a busy machine (npm run test:stress) the CLI's default
// 'low' would make them wait behind the load, which is what it is for, not what is tested here.
describe('taskwarden texture', () => {
  it('--json: only JSON on stdout, one entry per image naming its file, features as [distance][angle]', async () => {
    const c = capture();
    const code = await runTextureCommand(
      [brick, grass],
      { json: true, distances: [1, 3], levels: 32, priority: 'normal' },
      c.io,
    );
    expect(code, c.out()).toBe(0);
    const entries = JSON.parse(c.out());
    expect(entries.map((e: { file: string }) => e.file)).toEqual([brick, grass]);
    for (const e of entries) {
      expect(Object.keys(e.features)).toEqual([...FEATURE_NAMES]);
      expect(e.features.contrast).toHaveLength(2);
      expect(e.features.contrast[0]).toHaveLength(4);
    }
    expect(entries[0].features.contrast[0][0]).toBeCloseTo(2.3911065924657504, 12); // reference.json, levels32_d1
    expect(c.err()).toBe('');
  });

  it('--csv and text output; a bad image fails with exit 1 while the others are reported', async () => {
    const bad = path.join(tmp.dir, 'bad.tif');
    writeFileSync(bad, Buffer.from('II*\0garbage'));
    const c = capture();
    expect(await runTextureCommand([brick, bad], { csv: true, priority: 'normal' }, c.io)).toBe(1);
    const lines = c.out().trim().split('\n');
    expect(lines[0]).toBe(`file,page,distance,angle,${FEATURE_NAMES.join(',')}`);
    expect(lines).toHaveLength(1 + 4);
    expect(lines[1].startsWith(`${brick},0,1,0,`)).toBe(true);
    expect(Number(lines[1].split(',')[4])).toBeCloseTo(146.03957084758468, 9); // reference.json
    expect(c.err()).toContain(`texture: ${bad}: `);
    const t = capture();
    expect(await runTextureCommand([brick], { priority: 'normal' }, t.io)).toBe(0);
    expect(t.out()).toMatch(/brick\.png: 512 x 512, 8-bit grey, levels 256, symmetric/);
    expect(t.out()).toMatch(/contrast\s+146\.04/);
  });

  it('a plate: one task per image on one reusable runner per worker (--isolate: a process per image); a corrupt image fails alone', async () => {
    const plate = Array.from({ length: 12 }, (_, k) => path.join(tmp.dir, `plate-${k}.png`));
    for (const file of plate) writeFileSync(file, readFileSync(brick));
    const corrupt = path.join(tmp.dir, 'plate-corrupt.png');
    const png = Buffer.from(readFileSync(grass));
    writeFileSync(corrupt, png.subarray(0, png.length >> 1)); // truncated in the image data
    const files = [...plate.slice(0, 6), corrupt, ...plate.slice(6)];
    for (const isolate of [false, true]) {
      const c = capture();
      const runners = watchRunners();
      const code = await runTextureCommand(files, { json: true, priority: 'normal', isolate }, c.io);
      const seen = runners.stop();
      expect(code, c.err()).toBe(1);
      const entries = JSON.parse(c.out()) as Array<{ file: string; ok: boolean; error?: { message: string } }>;
      expect(entries.map((e) => e.file)).toEqual(files);
      expect(entries.filter((e) => e.ok).length).toBe(12);
      expect(entries[6]).toMatchObject({ ok: false, file: corrupt });
      expect(entries[6].error!.message).toContain(corrupt);
      // 13 tasks on 2 workers: reused, the 2 first runners serve them all; isolated, each had its own.
      if (isolate) expect(seen.size).toBeGreaterThanOrEqual(7);
      else expect(seen.size).toBeLessThanOrEqual(2);
    }
  }, 120_000);

  it('usage errors name the option', async () => {
    const program = new Command('taskwarden')
      .exitOverride()
      .configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerTextureCommand(program);
    const parse = (...args: string[]) => program.parseAsync(['node', 'taskwarden', 'texture', ...args]);
    await expect(parse(brick, '--levels', 'abc')).rejects.toThrow(
      /--levels must be an integer from 2 to 4096, got "abc"/,
    );
    await expect(parse(brick, '--distances', '1,,3')).rejects.toThrow(/--distances must be a comma-separated list/);
    await expect(parse(brick, '--angles', '0,x')).rejects.toThrow(/--angles: "x" is not a number/);
    await expect(parse(brick, '--json', '--csv')).rejects.toThrow(/--json and --csv cannot be used together/);
  });

  it('Ctrl+C (SIGINT) cancels the running tasks cleanly and exits 130, stdout empty', async () => {
    const r = rng(5);
    const data = new Uint16Array(2048 * 2048);
    for (let k = 0; k < data.length; k++) data[k] = (r() * 65536) | 0;
    const big = path.join(tmp.dir, 'big.tif');
    writeFileSync(big, encodeGreyTiff([{ width: 2048, height: 2048, bitDepth: 16, data }]));
    const script = fileURLToPath(new URL('./fixtures/cli.mjs', import.meta.url));
    const child = spawn(
      process.execPath,
      [script, 'texture', '--json', '--distances', '1,2,3,4', ...Array(8).fill(big)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '',
      err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    // wait until the command runs its tasks (runner processes are its children), then a little more
    const runnersOf = (pid: number) =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
            return (
              Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid &&
              readFileSync(`/proc/${d}/cmdline`, 'latin1').includes('host.js')
            );
          } catch {
            return false;
          }
        });
    const deadline = Date.now() + 20_000;
    while (runnersOf(child.pid!).length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(runnersOf(child.pid!).length).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sentAt = performance.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const ms = performance.now() - sentAt;
    expect(code, err).toBe(EXIT_INTERRUPTED);
    expect(out).toBe('');
    expect(err).toMatch(/texture: cancelling/);
    expect(err).toMatch(/texture: cancelled \(\d of \d tasks had finished\)/);
    expect(ms).toBeLessThan(3000); // tens of ms on a quiet machine; generous for a loaded one (printed below)
    console.log(`texture CLI: SIGINT -> exit 130 in ${ms.toFixed(0)} ms`);
  });
});
