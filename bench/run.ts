/** `npm run bench`: every benchmark of the project, one table, one machine line, JSON under bench/results/. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { machineLine, markdownTable, type BenchRow } from './lib/stats.js';
import { runCoreBench } from './core.js';
import { runTextureBench } from './texture.js';
import { runDaemonBench } from './daemon.js';
import { runTuiBench } from './tui.js';
import { runLoadBench } from './load.js';
import { runContainmentBench } from './containment.js';
import { runWebBench } from './web.js';
import { runClusterBench } from './cluster.js';

const runs = Number(process.env.BENCH_RUNS ?? 100);
// `npm run bench -- core` runs one suite; BENCH_RUNS sets the samples behind each percentile.
const only = process.argv[2];

const suites: Array<[string, () => Promise<BenchRow[]>]> = [
  ['core', () => runCoreBench(runs)],
  ['containment', () => runContainmentBench(runs)],
  ['texture', () => runTextureBench()],
  ['daemon', () => runDaemonBench()],
  ['tui', () => runTuiBench(runs)],
  ['load', () => runLoadBench(runs)],
  ['web', () => runWebBench(Math.min(runs, 50))],
  ['cluster', () => runClusterBench(Number(process.env.BENCH_RUNS ?? 30))],
];

const rows: BenchRow[] = [];
console.log(`machine: ${machineLine()}`);
for (const [name, suite] of suites) {
  if (only && only !== name) continue;
  process.stderr.write(`running ${name} benchmarks...\n`);
  rows.push(...(await suite()));
}
console.log(markdownTable(rows));
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(
  `${dir}/${only ?? 'all'}-latest.json`,
  JSON.stringify({ machine: machineLine(), at: new Date().toISOString(), rows }, null, 2),
);
