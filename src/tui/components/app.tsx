/**
 * The full-screen UI: one frame of exactly rows - 1 lines, driven by the store's committed state.
 * Every part is cut to its width and height by the components themselves: no Box clips
 * (overflow="hidden"), which would cost Ink a slice of every line on every frame.
 */
import { useEffect, useMemo, useSyncExternalStore } from 'react';
import { Box, useInput, useStdout } from 'ink';
import { isFinishedState, type RecordedState } from '../../journal/recorded-state.js';
import { colorsEnabled } from '../ansi.js';
import type { Controller } from '../controller.js';
import { detailLines } from '../details-page.js';
import { helpLines } from '../pages.js';
import { logPaneHeight, pageHeight, visibleRowCount, type UiState } from '../ui-state.js';
import { Footer, Header, LogPane, Page, QuitPrompt, StatusBar } from './chrome.js';
import { tableLayout } from '../row.js';
import { TableHeader, TaskTable } from './task-table.js';

function countStates(tasks: UiState['tasks'], order: UiState['order']): Partial<Record<RecordedState, number>> {
  const counts: Partial<Record<RecordedState, number>> = {};
  for (const id of order) {
    const task = tasks.get(id);
    if (task) counts[task.state] = (counts[task.state] ?? 0) + 1;
  }
  return counts;
}

function emptyHint(state: UiState): string {
  if (state.mode === 'leaving') return ' Quitting: the daemon this UI is starting is shut down again once it is up.';
  if (state.daemon.kind === 'connecting') {
    return ` Waiting for the ${state.cluster !== undefined ? 'cluster' : 'daemon'}… keys pressed now are carried out once it is up.`;
  }
  const first = state.templates.slice(0, 3).map((t) => `${t.key} ${t.name}`);
  return first.length > 0
    ? ` No tasks yet. Press 1-9 to start one (${first.join(', ')}, …), ? for help.`
    : ' No tasks yet.';
}

export function App({ controller }: { controller: Controller }) {
  const store = controller.store;
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const { stdout } = useStdout();

  useInput((input, key) => controller.key(input, key));

  useEffect(() => {
    const onResize = () => {
      store.setSize({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
      store.changed(true);
    };
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout, store]);

  const width = Math.max(20, state.size.columns);
  const colors = useMemo(() => colorsEnabled(stdout), [stdout]);
  const hosts = state.cluster !== undefined;
  const layout = useMemo(() => tableLayout(width, colors, hosts), [width, colors, hosts]);
  const counts = useMemo(() => countStates(state.tasks, state.order), [state.tasks, state.order]);
  const tableHeight = visibleRowCount(state);
  const activeCount = useMemo(() => {
    let n = 0;
    for (const t of state.tasks.values()) if (!isFinishedState(t.state)) n += 1;
    return n;
  }, [state.tasks]);
  const logHeight = logPaneHeight(state.size.rows);
  const selected = state.selectedId ? state.tasks.get(state.selectedId) : undefined;
  const selectedName = selected?.name;
  const pageLines = useMemo(() => {
    if (state.mode === 'help') return helpLines(state.templates, state.templatesSource, width);
    if (state.mode === 'details' && state.details) {
      return detailLines(
        { task: state.tasks.get(state.details.taskId), details: state.details, now: state.now },
        width,
      );
    }
    return undefined;
  }, [state.mode, state.templates, state.templatesSource, state.details, state.tasks, state.now, width]);
  const page = state.mode === 'help' || state.mode === 'details';

  return (
    <Box flexDirection="column" width={width} height={Math.max(1, state.size.rows - 1)}>
      <Header
        daemon={state.daemon}
        {...(state.cluster !== undefined ? { cluster: state.cluster } : {})}
        counts={counts}
        {...(state.load ? { load: state.load } : {})}
        {...(state.health ? { health: state.health } : {})}
        width={width}
      />
      {page && pageLines ? (
        <Page
          lines={pageLines}
          height={pageHeight(state.size.rows)}
          scroll={state.mode === 'help' ? state.helpScroll : (state.details?.scroll ?? 0)}
          width={width}
        />
      ) : (
        <>
          <TableHeader layout={layout} />
          <TaskTable
            tasks={state.tasks}
            order={state.order}
            {...(state.selectedId !== undefined ? { selectedId: state.selectedId } : {})}
            scrollTop={state.scrollTop}
            height={tableHeight}
            layout={layout}
            now={state.now}
            emptyHint={emptyHint(state)}
          />
          {state.logPane ? (
            <LogPane
              {...(state.logView ? { view: state.logView } : {})}
              height={logHeight}
              width={width}
              {...(selectedName ? { taskName: selectedName } : {})}
              finished={
                selected !== undefined && isFinishedState(selected.state) && selected.id === state.logView?.taskId
              }
            />
          ) : null}
        </>
      )}
      {state.mode === 'quit' || state.mode === 'quitting' || state.mode === 'leaving' ? (
        <QuitPrompt active={activeCount} width={width} mode={state.mode} />
      ) : (
        <StatusBar status={state.status} width={width} />
      )}
      <Footer width={width} mode={state.mode} />
    </Box>
  );
}
