/**
 * How a zod issue reads, everywhere one is shown (protocol errors, the Supervisor's TypeErrors,
 * the UI's config file errors): the field's path after a prefix, then a short message. One
 * formatter, so that the same mistake reads the same whichever door it came through.
 */
import type { z } from 'zod';

/**
 * Options for every safeParse whose issues are shown. Zod's default "Invalid input: expected
 * string, received undefined" is long; after the field path a short message reads better
 * ("TASK_REQUEST.spec.module: expected string, got number"). A schema's own message wins.
 */
export const PARSE_OPTIONS = {
  error: (issue: z.core.$ZodRawIssue): string | undefined => {
    if (issue.code !== 'invalid_type') return undefined;
    if (issue.input === undefined) return `required (expected ${issue.expected})`;
    return `expected ${issue.expected}, got ${describeValue(issue.input)}`;
  },
} as const;

/** "null", "array", "non-integer number", or typeof. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isInteger(value)) return 'non-integer number';
  return typeof value;
}

/** Issue messages can quote the input (a key, a value): bounded so an error stays one readable line. */
const MAX_QUOTE = 80;
const MAX_ISSUE_MESSAGE = 400;
const MAX_ISSUES_SHOWN = 3;

export interface IssueFormat {
  /** At most this many issues are shown, then "(+N more)". Default 3. */
  maxIssues?: number;
  /** The path in quotes after the prefix, for prose: 'task spec "args[0]": ...'. Default: appended, 'TASK_REQUEST.spec.args[0]: ...'. */
  quotePath?: boolean;
}

/** "TASK_REQUEST.spec.args[0]: expected string, got number; ..." (prefix "TASK_REQUEST.spec"). */
export function formatIssues(prefix: string, issues: readonly z.core.$ZodIssue[], format: IssueFormat = {}): string {
  const max = format.maxIssues ?? MAX_ISSUES_SHOWN;
  const where = (path: readonly PropertyKey[]) => {
    if (!format.quotePath) return issuePath(prefix, path);
    const field = issuePath('', path).replace(/^\./, '');
    return field === '' ? prefix : `${prefix} "${field}"`;
  };
  const shown = issues
    .slice(0, max)
    .map((issue) => `${where(issue.path)}: ${truncate(issueMessage(issue), MAX_ISSUE_MESSAGE)}`);
  const more = issues.length > max ? ` (+${issues.length - max} more)` : '';
  return shown.join('; ') + more;
}

/** "templates[0].command", "TASK_REQUEST.spec.env.A". */
export function issuePath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `.${truncate(String(key), MAX_QUOTE)}`;
  return out;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.slice(0, 5).map((key) => JSON.stringify(truncate(key, 40)));
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys.join(', ')}${issue.keys.length > 5 ? ` (+${issue.keys.length - 5} more)` : ''}`;
  }
  return issue.message;
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}
