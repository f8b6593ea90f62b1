/**
 * The stop button's fast path. Ink redraws the whole screen for every frame, and what a frame
 * costs grows with the terminal (tens of milliseconds for a large one on a slow machine). So when
 * a stop key changes a row, the row and the status line are first painted directly — a few hundred
 * bytes at the positions the frame puts them (the UI owns the alternate screen, its frame starts
 * at the top) — and Ink's full frame follows and draws the same.
 */
import { colorsEnabled, paint } from './ansi.js';
import { fit } from './format.js';
import { rowText, tableLayout, type Layout } from './row.js';
import { TONE_COLORS } from './components/chrome.js';
import type { TuiStore } from './store.js';
import { visibleRowCount } from './ui-state.js';

/** Lines above the first table row: the header (2) and the table's header (1). */
export const TABLE_TOP = 3;

export interface PaintTarget {
  write(data: string): unknown;
  isTTY?: boolean;
}

export class FastPaint {
  #layout: Layout | undefined;
  readonly #colors: boolean;

  constructor(
    private readonly out: PaintTarget,
    private readonly store: TuiStore,
  ) {
    this.#colors = colorsEnabled(out);
  }

  /** The sequence that repaints these tasks' rows and the status line ('' when nothing applies). */
  sequence(taskIds: readonly string[]): string {
    const s = this.store.draft;
    if (s.mode !== 'normal') return '';
    const width = Math.max(20, s.size.columns);
    if (!this.#layout || this.#layout.width !== Math.max(40, width))
      this.#layout = tableLayout(width, this.#colors, s.cluster !== undefined);
    const layout = this.#layout;
    const visible = visibleRowCount(s);
    let body = '';
    for (const id of taskIds) {
      const task = s.tasks.get(id);
      const index = s.order.indexOf(id);
      if (!task || index < s.scrollTop || index >= s.scrollTop + visible) continue;
      body += `\x1b[${TABLE_TOP + 1 + index - s.scrollTop};1H${rowText(task, id === s.selectedId, layout, s.now)}`;
    }
    // The status line is the frame's last line but one; the frame is rows - 1 lines tall.
    const statusLine = s.size.rows - 2;
    if (statusLine > TABLE_TOP) {
      body += `\x1b[${statusLine};1H${paint(fit(` ${s.status.text}`, width), { color: TONE_COLORS[s.status.tone], bold: s.status.tone === 'error' }, this.#colors)}`;
    }
    // synchronized update; save and restore the cursor, which Ink's next frame starts from
    return body ? `\x1b[?2026h\x1b7${body}\x1b8\x1b[?2026l` : '';
  }

  paint(taskIds: readonly string[]): void {
    const data = this.sequence(taskIds);
    if (data) this.out.write(data);
  }
}
