/**
 * A controlling process for scenarios 7 and 8: it loads one contender with its default
 * settings, says "ready", and on "go" (a line on stdin) starts `count` tasks of `mode`,
 * then idles until it is SIGKILLed. Tasks report to the benchmark's beacon directly.
 *
 *   node dist/bench/peers/owner.js <contender> <mode> <count> <beacon path> <tag prefix>
 */
import { createInterface } from 'node:readline';
import { contender, type Mode } from './contenders.js';

const args = process.argv.slice(2);
if (args.length !== 5) throw new Error('usage: owner.js <contender> <mode> <count> <beacon path> <tag prefix>');
const [name, mode, countText, beacon, prefix] = args as [string, string, string, string, string];
const count = Number(countText);
const runner = await contender(name).create({ concurrency: Math.max(2, count) });
// Idle for the benchmark to measure memory; an unexpected end of stdin ends us too.
const keepAlive = setInterval(() => {}, 60_000);
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = line.trim();
  // 'gc': collect garbage before the benchmark reads our RSS (started with --expose-gc), then say 'gc done'.
  if (command === 'gc') {
    (globalThis as { gc?: () => void }).gc?.();
    process.stdout.write('gc done\n');
  }
  if (command !== 'go') return;
  for (let i = 0; i < count; i++) runner.start({ mode: mode as Mode, beacon, tag: `${prefix}-${i}` });
});
lines.on('close', () => {
  clearInterval(keepAlive);
  void runner.close().finally(() => process.exit(0));
});
process.stdout.write('ready\n');
