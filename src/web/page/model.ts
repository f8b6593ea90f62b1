/**
 * The tasks as the daemon's events describe them, for the web page: one reducer that both the web
 * server (its mirror, from which a newly opened page starts) and the page itself apply, so the two
 * can never disagree about what an event means. Compiled for Node and for the browser alike: no
 * DOM, no Node, no imports.
 *
 * Values (a task's input and result) stay in the protocol's tagged JSON form ({"$tw": "Map", ...}):
 * the page shows them, it never computes with them.
 *
 * The types here mirror the protocol's (src/protocol) and the web backend's (src/web/backend.ts)
 * rather than import them: the page is compiled alone for the browser (tsconfig.page.json), with no
 * Node types and no module outside src/web/page. The Node side derives from them where it can, so
 * the compiler holds the two together: BackendState extends WireBackendState, and the web server's
 * mirror takes the journal's recorded tasks as WireTasks (src/web/backend.ts, encodeTask).
 */

export const TERMINAL_STATES: readonly string[] = ['completed', 'failed', 'cancelled', 'killed', 'interrupted'];

export interface WireProgress {
  fraction: number;
  message?: string;
}

export interface WireUsage {
  cpuPercent: number;
  rssBytes: number;
  processes: number;
  sampledAt: number;
  windowMs: number;
  runnable?: boolean;
}

export interface WireStall {
  taskId: string;
  silentForMs: number;
  diagnosis: 'spinning' | 'blocked' | 'unknown';
  cpuPercent: number;
}

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export interface WireOutcome {
  state: string;
  result?: unknown;
  error?: WireError;
  exitCode?: number | null;
  signal?: string | null;
  stopReason?: string;
  escalated?: boolean;
  durationMs: number;
  attempt: number;
}

/** What the page reads of a task's spec (the protocol's TaskSpec has more). */
export interface WireSpec {
  module?: string;
  command?: string;
  args?: readonly string[];
}

export interface WireTask {
  id: string;
  name: string;
  kind: 'module' | 'command';
  spec: WireSpec;
  state: string;
  attempt: number;
  pid?: number;
  progress?: WireProgress;
  usage?: WireUsage;
  stall?: WireStall;
  createdAt: number;
  startedAt?: number;
  endedAt?: number;
  outcome?: WireOutcome;
  stopReason?: string;
  /** The agent that runs (or last ran) it, for a cluster's task. */
  host?: string;
}

export interface WireLogLine {
  taskId: string;
  attempt: number;
  stream: 'stdout' | 'stderr';
  line: string;
  at: number;
}

/** What the page is told of the daemon or cluster it shows (BackendState in src/web/backend.ts). */
export interface WireBackendState {
  kind: 'daemon' | 'cluster';
  up: boolean;
  /** The daemon's state directory, or the cluster's Redis address (without a password). */
  home: string;
  pid?: number;
  /** Since when it is up, or down (ms since the epoch). */
  since: number;
  /** Why it is down. */
  reason?: string;
  health?: { journal: { writable: boolean; message?: string }; logs: { writable: boolean; message?: string } };
  /** Whether the page offers pause and resume. */
  pause: boolean;
  /** A cluster's queue and the agents alive in it. */
  cluster?: { queue: string; agents: string[] };
}

/** The protocol's task events, as the daemon sends them (src/protocol/messages.ts). */
export type TaskEvent =
  | { type: 'TASK_STATUS'; task: WireTask; previous?: string }
  | { type: 'TASK_COMPLETE'; task: WireTask }
  | { type: 'TASK_PROGRESS'; taskId: string; progress: WireProgress }
  | { type: 'TASK_STALL'; taskId: string; stall: WireStall }
  | { type: 'TASK_USAGE'; taskId: string; usage: WireUsage }
  | { type: 'TASK_LOG'; log: WireLogLine };

/** Everything the event stream carries: the task events, and the web server's own messages. */
export type PageMessage =
  | TaskEvent
  | { type: 'SNAPSHOT'; tasks: WireTask[]; daemon: WireBackendState; now: number }
  | { type: 'DAEMON_STATE'; daemon: WireBackendState }
  | { type: 'DAEMON_HEALTH'; health: WireBackendState['health'] };

export function isTerminal(state: string): boolean {
  return TERMINAL_STATES.includes(state);
}

/**
 * Applies one event to `tasks` (replacing the changed task object, never mutating it, so a view
 * can tell a changed task by identity). Returns the id of the task that changed, if any.
 * Log lines change no task: the page keeps them apart.
 */
export function applyEvent(tasks: Map<string, WireTask>, event: TaskEvent): string | undefined {
  switch (event.type) {
    case 'TASK_STATUS':
    case 'TASK_COMPLETE':
      tasks.set(event.task.id, event.task);
      return event.task.id;
    case 'TASK_PROGRESS':
      // Progress is a sign of life: a stall report ends with it (as in the terminal UI).
      return patch(tasks, event.taskId, (task) => {
        const { stall: _stall, ...rest } = task;
        return { ...rest, progress: event.progress };
      });
    case 'TASK_STALL':
      return patch(tasks, event.taskId, (task) => (isTerminal(task.state) ? task : { ...task, stall: event.stall }));
    case 'TASK_USAGE':
      return patch(tasks, event.taskId, (task) => ({ ...task, usage: event.usage }));
    default:
      return undefined;
  }
}

function patch(tasks: Map<string, WireTask>, id: string, change: (task: WireTask) => WireTask): string | undefined {
  const task = tasks.get(id);
  if (!task) return undefined;
  const next = change(task);
  if (next === task) return undefined;
  tasks.set(id, next);
  return id;
}

/** Tasks in the order they were created (ids break ties: "9" before "10"). */
export function byCreation(a: WireTask, b: WireTask): number {
  return a.createdAt - b.createdAt || a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
