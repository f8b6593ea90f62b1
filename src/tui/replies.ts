/**
 * Reading the daemon's replies, which arrive untyped (Record<string, unknown>) through TuiClient:
 * the checks below keep a malformed reply from reaching the screen. They go once replies are typed
 * per request (issue #12, point 1).
 */
import type { TaskSnapshot } from '../supervisor/types.js';

export function asSnapshot(value: unknown): TaskSnapshot | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const t = value as Partial<TaskSnapshot>;
  return typeof t.id === 'string' && typeof t.state === 'string' && typeof t.attempt === 'number' ? (t as TaskSnapshot) : undefined;
}

export function logLineText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { line?: unknown }).line === 'string') {
    const { line, stream } = value as { line: string; stream?: string };
    return stream === 'stderr' ? `! ${line}` : line;
  }
  return undefined;
}
