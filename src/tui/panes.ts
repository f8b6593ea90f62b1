/**
 * The views over and under the table: the log pane (l), the details page (Enter) and the help page
 * (?), opening, closing and scrolling them; what they show at once (the log lines at hand), and
 * what they fetch from the daemon (the journal's attempts, the stored log tail), once for a burst
 * of changes.
 */
import { errorText } from './client.js';
import type { Connection } from './connection.js';
import { oneLine } from './format.js';
import { detailLines } from './details-page.js';
import { clampPageScroll, helpLines } from './pages.js';
import type { TuiStore } from './store.js';
import { LOG_RING, pageHeight } from './ui-state.js';

type ScrollDelta = number | 'start' | 'end' | 'pageUp' | 'pageDown';

export class Panes {
  #logTimer: NodeJS.Timeout | undefined;
  #detailsTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: TuiStore,
    private readonly connection: Connection,
    /** Bytes of log tail fetched. */
    private readonly logTailBytes: number,
  ) {}

  dispose(): void {
    if (this.#logTimer) clearTimeout(this.#logTimer);
    if (this.#detailsTimer) clearTimeout(this.#detailsTimer);
  }

  /** The daemon is (back) up: fetch what is shown again. */
  reload(): void {
    if (this.store.draft.logPane) this.#loadLog(true);
    if (this.store.draft.details) this.#loadDetails(this.store.draft.details.taskId, false);
  }

  toggleHelp(): void {
    const store = this.store;
    if (store.draft.mode === 'help') store.setMode('normal');
    else {
      if (store.draft.mode === 'details') this.closeDetails();
      store.setHelpScroll(0);
      store.setMode('help');
    }
  }

  /** Esc: closes the page shown, else the log pane. */
  closeTop(): void {
    const store = this.store;
    if (store.draft.mode === 'help') store.setMode('normal');
    else if (store.draft.mode === 'details') this.closeDetails();
    else if (store.draft.logPane) store.setLogPane(false);
  }

  toggleLog(): void {
    const open = !this.store.draft.logPane;
    this.store.setLogPane(open);
    if (open) this.#loadLog(true);
  }

  /** Scrolls the page shown (help or details) by `delta` lines, or a page, or to an end. */
  scroll(delta: ScrollDelta): void {
    const store = this.store;
    const draft = store.draft;
    const width = Math.max(20, draft.size.columns);
    const height = pageHeight(draft.size.rows);
    let lines: number;
    let current: number;
    if (draft.mode === 'help') {
      lines = helpLines(draft.templates, draft.templatesSource, width).length;
      current = draft.helpScroll;
    } else if (draft.mode === 'details' && draft.details) {
      lines = detailLines(
        { task: draft.tasks.get(draft.details.taskId), details: draft.details, now: draft.now },
        width,
      ).length;
      current = draft.details.scroll;
    } else return;
    const page = Math.max(1, height - 2);
    const from = clampPageScroll(current, lines, height);
    const to =
      delta === 'start'
        ? 0
        : delta === 'end'
          ? lines
          : delta === 'pageUp'
            ? from - page
            : delta === 'pageDown'
              ? from + page
              : from + delta;
    const next = clampPageScroll(Math.max(0, to), lines, height);
    if (draft.mode === 'help') store.setHelpScroll(next);
    else store.updateDetails(draft.details!.taskId, (d) => ({ ...d, scroll: next }));
    store.changed(true);
  }

  openDetails(): void {
    const store = this.store;
    const id = store.draft.selectedId;
    if (id === undefined || !store.task(id)) {
      store.setStatus('No task selected: start one with 1-9, then Enter shows its details.', 'warn');
      store.changed(true);
      return;
    }
    store.setDetails({
      taskId: id,
      scroll: 0,
      loading: true,
      log: { taskId: id, lines: [...(store.logs.get(id) ?? [])], loading: true },
    });
    store.setMode('details');
    this.#loadDetails(id, true);
    store.changed(true);
  }

  closeDetails(): void {
    if (this.#detailsTimer) clearTimeout(this.#detailsTimer);
    this.#detailsTimer = undefined;
    this.store.setDetails(undefined);
    if (this.store.draft.mode === 'details') this.store.setMode('normal');
  }

  /** Task `taskId` changed state: if it is the one shown, fetch its record again (soon, once for a burst of changes). */
  taskChanged(taskId: string, withLog: boolean): void {
    if (this.store.draft.details?.taskId !== taskId) return;
    if (this.#detailsTimer) clearTimeout(this.#detailsTimer);
    this.#detailsTimer = setTimeout(() => {
      this.#detailsTimer = undefined;
      this.#loadDetails(taskId, withLog);
    }, 100);
  }

  /** The selection moved: the log pane shows what is at hand now, and fetches the stored tail once the selection rests. */
  selectionChanged(): void {
    if (!this.store.draft.logPane) return;
    const id = this.store.draft.selectedId;
    if (id === undefined || id === this.store.draft.logView?.taskId) return;
    this.#loadLog(false);
    if (this.#logTimer) clearTimeout(this.#logTimer);
    this.#logTimer = setTimeout(() => {
      this.#logTimer = undefined;
      this.#loadLog(true);
    }, 80);
  }

  /** Fetches the journal record (attempts) and, with `withLog`, the log tail of the task shown. */
  #loadDetails(taskId: string, withLog: boolean): void {
    const store = this.store;
    const client = this.connection.client;
    if (!client) {
      store.updateDetails(taskId, (d) => ({
        ...d,
        loading: false,
        error: 'not connected to the daemon',
        log: { ...d.log, loading: false },
      }));
      return;
    }
    void (async () => {
      try {
        const reply = await client.request('GET', { taskId });
        const attempts = Array.isArray(reply.attempts) ? reply.attempts : [];
        store.updateDetails(taskId, (d) => {
          const { error: _error, ...rest } = d;
          return { ...rest, attempts, loading: false };
        });
      } catch (error) {
        store.updateDetails(taskId, (d) => ({ ...d, loading: false, error: oneLine(errorText(error)) }));
      }
      store.changed();
    })();
    if (!withLog) return;
    void (async () => {
      try {
        const reply = await client.request('LOGS', { taskId, tailBytes: this.logTailBytes });
        const lines = reply.lines.map(logLineText).map(oneLine).slice(-LOG_RING);
        store.updateDetails(taskId, (d) => ({
          ...d,
          log: {
            taskId,
            ...(typeof reply.attempt === 'number' ? { attempt: reply.attempt } : {}),
            lines,
            loading: false,
          },
        }));
      } catch (error) {
        store.updateDetails(taskId, (d) => ({
          ...d,
          log: { taskId, lines: [...(store.logs.get(taskId) ?? [])], loading: false, error: oneLine(errorText(error)) },
        }));
      }
      store.changed();
    })();
  }

  #loadLog(fetch: boolean): void {
    const store = this.store;
    const id = store.draft.selectedId;
    if (id === undefined) {
      store.setLogView(undefined);
      return;
    }
    const ring = store.logs.get(id) ?? [];
    const client = this.connection.client;
    const canFetch = fetch && client !== undefined;
    store.setLogView({ taskId: id, lines: [...ring], loading: canFetch });
    if (!canFetch) return;
    void (async () => {
      try {
        const reply = await client.request('LOGS', { taskId: id, tailBytes: this.logTailBytes });
        const lines = reply.lines.map(logLineText).map(oneLine).slice(-LOG_RING);
        if (store.draft.logView?.taskId !== id) return;
        store.setLogView({
          taskId: id,
          ...(typeof reply.attempt === 'number' ? { attempt: reply.attempt } : {}),
          lines,
          loading: false,
        });
      } catch (error) {
        if (store.draft.logView?.taskId !== id) return;
        store.setLogView({
          taskId: id,
          lines: [...(store.logs.get(id) ?? [])],
          loading: false,
          error: oneLine(errorText(error)),
        });
      }
      store.changed();
    })();
  }
}

/** A log line as the pane shows it: stderr marked. */
function logLineText({ stream, line }: { stream: string; line: string }): string {
  return stream === 'stderr' ? `! ${line}` : line;
}
