/**
 * `npm run bench:peers [scenario ...]`: taskwarden side by side with the libraries people would
 * use instead. Prints a markdown table and writes bench/results/peers-latest.json
 * (peers-partial-latest.json when only some scenarios or contenders ran).
 *
 * Environment (defaults in brackets):
 *   PEERS_RUNS [100]        runs behind p50/p99 of scenarios 1, 2 and 5b
 *   PEERS_COLD_RUNS [50]    cold starts (5a)
 *   PEERS_SLOW_RUNS [5]     samples of scenario 3 (taken in parallel)
 *   PEERS_BULK_RUNS [3]     repetitions of scenario 4; PEERS_BULK_TASKS [50] tasks each
 *   PEERS_TINY [2000]       tasks of scenario 6; PEERS_TINY_BUDGET_S [20] most seconds per contender (rate over what finished)
 *   PEERS_ORPHAN_RUNS [3]   repetitions of scenario 7
 *   PEERS_MEM_TASKS [10]    tasks running while memory is read (8)
 *   PEERS_LIMIT_MS [10000]  limit of one wait; PEERS_NEVER_S [8] how long scenario 3 waits
 *   PEERS_BUDGET_S [25]     most seconds per contender and latency scenario (fewer runs after)
 * Scenarios 1, 2 and 5 interleave the contenders in blocks of 10 runs (a shared machine's load
 * changes; it should change for everyone).
 *   PEERS_CONCURRENCY [CPUs] tasks at once in scenario 6
 *   PEERS_GAP_MS            pause before a prewarmed start (default: 1.5 x the slowest cold start + 20 ms)
 *   PEERS_CONTENDERS        comma-separated subset, e.g. taskwarden,workerpool
 * Arguments: scenario numbers to run (default all), e.g. `npm run bench:peers -- 1 5`.
 */
import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { machineLine } from '../lib/stats.js';
import { Beacons } from './beacons.js';
import { CONTENDERS, type Contender } from './contenders.js';
import { contenderList, notesList, peersTable } from './report.js';
import {
  coldStart,
  forceStop,
  gracefulCancel,
  ignoresCancel,
  interleaved,
  memory,
  notOffered,
  orphans,
  stopMany,
  throughput,
  warmStart,
  WARM_START,
  type PeerConfig,
  type PeerRow,
} from './scenarios.js';

const env = (name: string, fallback: number) => {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${value}`);
  return n;
};

const cfg: PeerConfig = {
  runs: env('PEERS_RUNS', 100),
  coldRuns: env('PEERS_COLD_RUNS', 50),
  slowRuns: env('PEERS_SLOW_RUNS', 5),
  bulkRuns: env('PEERS_BULK_RUNS', 3),
  bulkTasks: env('PEERS_BULK_TASKS', 50),
  tiny: env('PEERS_TINY', 2000),
  tinyBudgetMs: env('PEERS_TINY_BUDGET_S', 20) * 1000,
  orphanRuns: env('PEERS_ORPHAN_RUNS', 3),
  memTasks: env('PEERS_MEM_TASKS', 10),
  limitMs: env('PEERS_LIMIT_MS', 10_000),
  neverMs: env('PEERS_NEVER_S', 8) * 1000,
  budgetMs: env('PEERS_BUDGET_S', 25) * 1000,
  concurrency: env('PEERS_CONCURRENCY', os.availableParallelism()),
};
const fixedGap = process.env.PEERS_GAP_MS ? env('PEERS_GAP_MS', 200) : undefined;
const wanted = new Set(process.argv.slice(2).filter((a) => /^[1-8]$/.test(a)));
const runs = (s: string) => wanted.size === 0 || wanted.has(s);
const names = process.env.PEERS_CONTENDERS?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const contenders: Contender[] = names ? CONTENDERS.filter((c) => names.includes(c.name)) : CONTENDERS;
/** The contenders of one scenario: a variant (taskwarden reuse) only where it differs. */
const of = (scenario: string) => contenders.filter((c) => !c.scenarios || c.scenarios.includes(scenario));
if (contenders.length === 0)
  throw new Error(`PEERS_CONTENDERS matched none of ${CONTENDERS.map((c) => c.name).join(', ')}`);

// NODE_EXTRA_CA_CERTS makes every Node start parse a CA bundle (~80 ms of CPU on the development machine).
// tinypool gives its workers an empty environment and escapes it; every other contender would pay it.
// Remove it for all: the table compares the libraries, not the environment.
const droppedEnv = ['NODE_EXTRA_CA_CERTS'].filter((name) => process.env[name] !== undefined);
for (const name of droppedEnv) Reflect.deleteProperty(process.env, name);

const beacons = await Beacons.open();
process.on('exit', () => beacons.close());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    beacons.close();
    process.exit(130);
  });
}
// Every wait is bounded; this is the last line of defence.
setTimeout(
  () => {
    process.stderr.write('bench:peers: overall deadline passed, cleaning up\n');
    process.exit(1);
  },
  env('PEERS_DEADLINE_S', 1800) * 1000,
).unref();

const machine = machineLine();
const startedAt = new Date();
const rows: PeerRow[] = [];
const log = (text: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);

async function each(scenarioNumber: string, scenario: (c: Contender) => Promise<PeerRow[]>): Promise<void> {
  for (const c of of(scenarioNumber)) {
    log(`${scenarioNumber}: ${c.name}`);
    const got = await scenario(c);
    rows.push(...got);
  }
}

if (runs('5')) {
  log('5a cold start');
  const cold = await interleaved(of('5'), cfg, cfg.coldRuns, coldStart(beacons, cfg), log);
  rows.push(...cold);
  // After a start the pool boots its next process: about a cold start. Wait the slowest one and a half.
  const coldP50 = Math.max(
    ...cold
      .filter((r) => r.metric.startsWith('5a'))
      .map((r) => r.p50)
      .filter(Number.isFinite),
  );
  const gap =
    fixedGap ?? (Number.isFinite(coldP50) ? Math.min(600, Math.max(60, Math.round(1.5 * coldP50 + 20))) : 200);
  log(`5b prewarmed start (gap ${gap} ms)`);
  rows.push(
    ...(await interleaved(
      of('5').filter((c) => c.offersPrewarm),
      cfg,
      cfg.runs,
      warmStart(beacons, cfg, gap),
      log,
    )),
  );
  for (const c of of('5').filter((c) => !c.offersPrewarm))
    rows.push(notOffered('5', WARM_START, c, 'ms', 'no prewarming'));
}
if (runs('1')) {
  log('1 force-stop');
  rows.push(...(await interleaved(of('1'), cfg, cfg.runs, forceStop(beacons, cfg), log)));
}
if (runs('2')) {
  log('2 graceful cancel');
  rows.push(...(await interleaved(of('2'), cfg, cfg.runs, gracefulCancel(beacons, cfg), log)));
}
if (runs('3')) {
  log('3 ignores cancel: all contenders at once');
  rows.push(...(await ignoresCancel(of('3'), beacons, cfg)));
}
if (runs('4')) await each('4', (c) => stopMany(c, beacons, cfg));
if (runs('6')) {
  log('6 throughput: contenders take turns');
  rows.push(...(await throughput(of('6'), beacons, cfg, log)));
}
if (runs('7')) {
  log('7 orphans: one owner per contender');
  rows.push(...(await orphans(of('7'), beacons, cfg)));
}
if (runs('8')) {
  log('8 memory: one owner per contender');
  rows.push(...(await memory(of('8'), beacons, cfg)));
}
beacons.sweep();

const order = (r: PeerRow) => r.metric;
rows.sort((a, b) => order(a).localeCompare(order(b), 'en', { numeric: true }));
const command = `npm run bench:peers${wanted.size ? ` -- ${[...wanted].join(' ')}` : ''}`;
console.log(`machine: ${machine}`);
console.log(
  `command: ${command}; runs ${cfg.runs}, cold ${cfg.coldRuns}, slow ${cfg.slowRuns}, bulk ${cfg.bulkRuns}x${cfg.bulkTasks}, tiny ${cfg.tiny} at ${cfg.concurrency}, took ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`,
);
if (droppedEnv.length) console.log(`removed from the environment of every task process: ${droppedEnv.join(', ')}`);
console.log('cells: median / p99 (× the taskwarden median)\n');
console.log(peersTable(rows, contenders));
console.log(`\nwhat each contender isolates:\n${contenderList(contenders)}`);
const notes = notesList(rows);
if (notes) console.log(`\nnotes:\n${notes}`);

const dir = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
// Infinity (never) would become null in JSON: write it as the string "never".
// Only a run of everything replaces peers-latest.json (the published table); a subset writes its own file.
const partial = wanted.size > 0 || contenders.length < CONTENDERS.length;
const file = partial ? 'peers-partial-latest.json' : 'peers-latest.json';
writeFileSync(
  `${dir}/${file}`,
  `${JSON.stringify(
    {
      machine,
      at: startedAt.toISOString(),
      command,
      config: cfg,
      droppedEnv,
      contenders: contenders.map(
        ({ name, isolation, threads, offersPrewarm, offersGrace, defaultEscalation, cooperative }) => ({
          name,
          isolation,
          threads,
          offersPrewarm,
          offersGrace,
          defaultEscalation,
          cooperative,
        }),
      ),
      rows,
    },
    (_key, value: unknown) => (value === Infinity ? 'never' : value),
    1,
  )}\n`,
);
log(`wrote ${dir}${file}`);
process.exit(0);
