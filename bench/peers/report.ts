/** The side-by-side table: one row per measurement, one column per contender. */
import type { Contender } from './contenders.js';
import type { PeerRow } from './scenarios.js';

function num(value: number): string {
  if (value === Infinity) return 'never';
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function cell(row: PeerRow | undefined, reference: PeerRow | undefined): string {
  if (!row) return '';
  if (row.notOffered) return `n/a (${row.notOffered})`;
  if (row.n === 0) return `failed${row.note ? ` (${row.note})` : ''}`;
  const waited = row.waitedMs !== undefined ? ` (waited ${num(row.waitedMs / 1000)} s)` : '';
  let text: string;
  if (row.p50 === Infinity) text = `never${waited}`;
  else if (row.n === 1 || row.p50 === row.p99) text = num(row.p50);
  else text = `${num(row.p50)} / ${row.p99 === Infinity ? `never${waited}` : num(row.p99)}`;
  if (row.never && row.p50 !== Infinity) text += ` (${row.never}/${row.n} never)`;
  if (
    reference &&
    reference !== row &&
    Number.isFinite(row.p50) &&
    Number.isFinite(reference.p50) &&
    reference.p50 > 0
  ) {
    text += ` (×${num(row.p50 / reference.p50)})`;
  }
  return text;
}

export function peersTable(rows: readonly PeerRow[], contenders: readonly Contender[]): string {
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const header = `| measurement | unit | ${contenders.map((c) => c.name).join(' | ')} |`;
  const lines = [header, `|---|---|${contenders.map(() => '---:').join('|')}|`];
  for (const metric of metrics) {
    const of = (name: string) => rows.find((r) => r.metric === metric && r.contender === name);
    const reference = of('taskwarden');
    const any = rows.find((r) => r.metric === metric)!;
    const unit = `${any.unit}, ${any.lowerIsBetter ? 'lower' : 'higher'} is better`;
    lines.push(`| ${metric} | ${unit} | ${contenders.map((c) => cell(of(c.name), reference)).join(' | ')} |`);
  }
  return lines.join('\n');
}

export function notesList(rows: readonly PeerRow[]): string {
  return rows
    .filter((r) => r.note && !r.notOffered)
    .map((r) => `- ${r.metric.split(' ')[0]} ${r.contender}: ${r.note}`)
    .join('\n');
}

export function contenderList(contenders: readonly Contender[]): string {
  return contenders
    .map((c) => `- **${c.name}**: isolates ${c.isolation}; cancel with defaults: ${c.defaultEscalation}.`)
    .join('\n');
}
