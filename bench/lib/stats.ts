/** Shared helpers for benchmarks: percentiles and a markdown table, honest about the machine. */
import os from 'node:os';

export interface BenchRow {
  /** What was measured, e.g. 'kill (call -> reaped)'. */
  name: string;
  /** Number of runs behind the percentiles. */
  n: number;
  unit: string;
  p50: number;
  p99: number;
  /** The promise in words, e.g. 'p50 <= 3 ms'. */
  target?: string;
  /** Whether the target was met; undefined where there is none. */
  met?: boolean;
  note?: string;
}

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function row(name: string, samples: readonly number[], unit = 'ms', extra: Partial<BenchRow> = {}): BenchRow {
  return { name, n: samples.length, unit, p50: percentile(samples, 50), p99: percentile(samples, 99), ...extra };
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function machineLine(): string {
  const cpus = os.cpus();
  return (
    `${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
    `Node ${process.version}, ${os.platform()} ${os.release()}, load avg ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`
  );
}

export function markdownTable(rows: readonly BenchRow[]): string {
  const lines = ['| benchmark | n | p50 | p99 | unit | target | met |', '|---|---:|---:|---:|---|---|---|'];
  for (const r of rows) {
    const met = r.met === undefined ? '' : r.met ? 'yes' : '**no**';
    lines.push(
      `| ${r.name}${r.note ? ` (${r.note})` : ''} | ${r.n} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.unit} | ${r.target ?? ''} | ${met} |`,
    );
  }
  return lines.join('\n');
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
