/**
 * The stdout line format through which a command task reports progress:
 * one JSON object per line, e.g.
 *   {"progress": 0.42, "message": "tile 42/100"}
 *   {"heartbeat": true}
 * Every other line is a log line.
 */
import type { Progress } from './types.js';

export function parseCommandProgress(line: string): Progress | 'heartbeat' | undefined {
  const text = line.trim();
  if (!text.startsWith('{') || !text.endsWith('}') || (!text.includes('"progress"') && !text.includes('"heartbeat"')))
    return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.progress === 'number' && Number.isFinite(record.progress)) {
    return {
      fraction: Math.min(1, Math.max(0, record.progress)),
      ...(typeof record.message === 'string' ? { message: record.message } : {}),
    };
  }
  if (record.heartbeat === true) return 'heartbeat';
  return undefined;
}
