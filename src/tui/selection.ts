/** Which task row is selected and which rows are in view: pure functions of the row order, the selection and the table's height. */

export interface TableWindow {
  readonly order: readonly string[];
  readonly selectedId?: string;
  /** Index of the first row drawn. */
  readonly scrollTop: number;
}

/** The row at `index`, or the nearest one (undefined when there are none). */
export function rowNear(order: readonly string[], index: number): string | undefined {
  return order.length === 0 ? undefined : order[Math.min(order.length - 1, Math.max(0, index))];
}

/** The row `delta` rows from the selected one ('start'/'end' for Home/End); from no selection, the first or the last. */
export function movedSelection(
  order: readonly string[],
  selectedId: string | undefined,
  delta: number | 'start' | 'end',
): string | undefined {
  if (order.length === 0) return selectedId;
  const current = selectedId === undefined ? -1 : order.indexOf(selectedId);
  if (delta === 'start') return order[0];
  if (delta === 'end') return order.at(-1);
  if (current < 0) return delta > 0 ? order[0] : order.at(-1);
  return rowNear(order, current + delta);
}

/**
 * The first row to draw for `visible` rows: within the rows there are, and with the selection in
 * view. `reveal` also scrolls up to a selection above the window (a key moved it there); without
 * it only a selection pushed below the window (a resize, the log pane opening) is followed.
 */
export function scrollTopFor({ order, selectedId, scrollTop }: TableWindow, visible: number, reveal: boolean): number {
  const index = selectedId === undefined ? -1 : order.indexOf(selectedId);
  let top = scrollTop;
  if (reveal && index >= 0) {
    if (index < top) top = index;
    else if (index >= top + visible) top = index - visible + 1;
  }
  const max = Math.max(0, order.length - visible);
  top = Math.min(Math.max(top, 0), max);
  if (index >= 0 && index >= top + visible) top = Math.min(max, index - visible + 1);
  return top;
}
