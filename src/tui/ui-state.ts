/**
 * What the screen shows, as data: the state the store publishes to React, and how the screen's
 * rows are shared between the table, the log pane and the pages.
 */
import type { DaemonHealth } from '../protocol/messages.js';
import type { AttemptRecord } from '../journal/types.js';
import type { Template } from '../tasks/templates.js';
import type { TaskView } from './task-view.js';

export type DaemonStatus =
  | { kind: 'connecting'; text: string }
  /** pid and home: the daemon's; absent for a cluster (UiState.cluster says which). */
  | { kind: 'connected'; pid?: number; home?: string }
  | { kind: 'disconnected'; reason: string };

export type Tone = 'info' | 'busy' | 'success' | 'warn' | 'error';
export interface StatusLine {
  text: string;
  tone: Tone;
}

/** 'quit': the quit prompt; 'quitting': stopping every task before leaving; 'leaving': waiting for the daemon this UI is starting, to shut it down. */
export type Mode = 'normal' | 'help' | 'details' | 'quit' | 'quitting' | 'leaving';

export interface LogView {
  taskId: string;
  attempt?: number;
  lines: readonly string[];
  loading: boolean;
  error?: string;
}

/** The details view (Enter) of one task: its journal record (attempts) and its log tail, fetched on opening. */
export interface DetailsView {
  taskId: string;
  /** Index of the first line shown. */
  scroll: number;
  attempts?: readonly AttemptRecord[];
  loading: boolean;
  error?: string;
  log: LogView;
}

export interface MachineLoad {
  load1: number;
  cpus: number;
  memUsedFraction: number;
}

export interface UiState {
  daemon: DaemonStatus;
  /**
   * The cluster this UI is attached to, as shown ("redis://host:6379 queue taskwarden"); absent:
   * the local daemon. Its tasks run on many agents: the table has a HOST column.
   */
  cluster?: string;
  /** The daemon's last reported health (journal and task log writes); shown in the header when something fails. */
  health?: DaemonHealth;
  tasks: ReadonlyMap<string, TaskView>;
  /** Ids shown, in creation order (cleared rows left out). */
  order: readonly string[];
  selectedId?: string;
  /** Index of the first row drawn. */
  scrollTop: number;
  status: StatusLine;
  mode: Mode;
  logPane: boolean;
  logView?: LogView;
  /** Index of the first line of the help page shown. */
  helpScroll: number;
  details?: DetailsView;
  templates: readonly Template[];
  templatesSource?: string;
  size: { columns: number; rows: number };
  load?: MachineLoad;
  /** Wall clock (ms) of the last tick: elapsed times and stall silences count from it. */
  now: number;
  /** Bumped by every commit; for tests and benchmarks. */
  frame: number;
}

/** Lines of chrome around the table: header (2), table header (1), status (1), footer (1). */
export const CHROME_ROWS = 5;
export const LOG_RING = 200;

/** Lines of a full-screen page (help, details): everything between the header and the status line. */
export function pageHeight(rows: number): number {
  return Math.max(1, rows - 1 - (CHROME_ROWS - 1));
}

export function logPaneHeight(rows: number): number {
  return Math.max(4, Math.min(14, Math.floor(rows / 3)));
}

/** Rows of the task table that fit the screen. */
export function visibleRowCount(state: Pick<UiState, 'size' | 'logPane'>): number {
  // One line is left free at the bottom: a frame shorter than the screen lets Ink update lines in place.
  const usable = state.size.rows - 1 - CHROME_ROWS - (state.logPane ? logPaneHeight(state.size.rows) + 1 : 0);
  return Math.max(1, usable);
}
