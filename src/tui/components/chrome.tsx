/** Everything around the table: header, status line, quit prompt, key footer, log pane, help. */
import { memo } from 'react';
import { Box, Text } from 'ink';
import { journalProblem, logsProblem, type DaemonHealth } from '../../daemon/health.js';
import { ACTIVE_STATES } from '../../supervisor/types.js';
import { RECORDED_TERMINAL_STATES, type RecordedState } from '../../journal/recorded-state.js';
import { fit, STATE_STYLES } from '../format.js';
import { footerText } from '../keys.js';
import { clampPageScroll, type Line } from '../pages.js';
import type { DaemonStatus, LogView, MachineLoad, Mode, StatusLine, Tone } from '../ui-state.js';

/** A horizontal rule of exactly `width` cells starting with `text` (cut where the text is too long). */
function rule(text: string, width: number): string {
  const chars = [...text];
  return chars.length >= width ? fit(text, width) : text + '─'.repeat(width - chars.length);
}

export const TONE_COLORS: Record<Tone, string> = {
  info: 'white',
  busy: 'cyan',
  success: 'green',
  warn: 'yellow',
  error: 'red',
};

export const Header = memo(function Header({
  daemon,
  cluster,
  counts,
  load,
  health,
  width,
}: {
  daemon: DaemonStatus;
  /** Attached to this cluster (UiState.cluster) rather than the local daemon. */
  cluster?: string;
  counts: Readonly<Partial<Record<RecordedState, number>>>;
  load?: MachineLoad;
  /** A failing journal (else failing task logs) is shown next to the daemon: what a client sees may not be on disk. */
  health?: DaemonHealth;
  width: number;
}) {
  const peerText = (label: string | undefined) => {
    const peer = label !== undefined ? `cluster ${label}` : 'daemon';
    if (daemon.kind === 'connected') return label !== undefined ? `● ${peer}` : `● daemon pid ${daemon.pid}`;
    return daemon.kind === 'connecting' ? `◌ ${peer} ${daemon.text}` : `✘ ${peer} gone: ${daemon.reason}`;
  };
  const daemonColor = daemon.kind === 'connected' ? 'green' : daemon.kind === 'connecting' ? 'cyan' : 'red';
  const loadText = load
    ? `load ${load.load1.toFixed(2)} / ${load.cpus} CPU${load.cpus === 1 ? '' : 's'} · mem ${Math.round(load.memUsedFraction * 100)}%`
    : '';
  const journal = journalProblem(health);
  const problem = journal ?? logsProblem(health);
  const problemText = problem ? `  ⚠ ${problem}` : '';
  const title = ' taskwarden ';
  const fullLeft = `${title} ${peerText(cluster)}${problemText}`;
  // A long Redis URL loses its middle before the queue name, the state or the load are cut off.
  const overflow = [...fullLeft].length + 1 + [...loadText].length - width;
  const daemonText = peerText(cluster !== undefined && overflow > 0 ? fitClusterLabel(cluster, overflow) : cluster);
  const left = `${title} ${daemonText}${problemText}`;
  const gap = Math.max(1, width - [...left].length - [...loadText].length);
  const parts: Array<{ state: RecordedState; n: number }> = [];
  for (const state of [...ACTIVE_STATES, ...RECORDED_TERMINAL_STATES]) {
    const n = counts[state] ?? 0;
    if (n > 0) parts.push({ state, n });
  }
  const total = parts.reduce((a, p) => a + p.n, 0);
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold inverse>
          {title}
        </Text>{' '}
        <Text color={daemonColor}>{daemonText}</Text>
        {problem ? (
          <Text color={journal ? 'red' : 'yellow'} bold>
            {problemText}
          </Text>
        ) : null}
        {' '.repeat(gap)}
        <Text dimColor>{loadText}</Text>
      </Text>
      <Text wrap="truncate-end">
        {total === 0 ? (
          <Text dimColor> no tasks</Text>
        ) : (
          <>
            <Text>
              {' '}
              {total} task{total === 1 ? '' : 's'}:{' '}
            </Text>
            {parts.map((p, i) => (
              <Text key={p.state} color={STATE_STYLES[p.state].color}>
                {i > 0 ? '  ' : ''}
                {STATE_STYLES[p.state].icon} {p.n} {p.state}
              </Text>
            ))}
          </>
        )}
      </Text>
    </Box>
  );
});

export const StatusBar = memo(function StatusBar({ status, width }: { status: StatusLine; width: number }) {
  return (
    <Text color={TONE_COLORS[status.tone]} bold={status.tone === 'error'} wrap="truncate-end">
      {fit(` ${status.text}`, width)}
    </Text>
  );
});

/** The quit prompt ('quit'), or what quitting waits for: the tasks to stop ('quitting'), the daemon being started ('leaving'). */
export const QuitPrompt = memo(function QuitPrompt({
  active,
  width,
  mode,
}: {
  active: number;
  width: number;
  mode: 'quit' | 'quitting' | 'leaving';
}) {
  const tasks = `${active} task${active === 1 ? '' : 's'}`;
  // the longest that fits: every choice must stay on screen (at 80 columns "[Esc] stay" was cut off)
  const choices =
    mode === 'leaving'
      ? [
          ' Quitting once the daemon this UI is starting is up, to shut it down again… (Ctrl+C: quit now, leave it running)',
          ' Quitting once the new daemon is up, to shut it down (Ctrl+C: leave it running)',
          ' Waiting for the daemon, to shut it down… (Ctrl+C: leave it)',
        ]
      : mode === 'quitting'
        ? [
            ` Stopping ${tasks} before quitting… (Ctrl+C: leave them to the daemon)`,
            ` Stopping ${tasks}… (Ctrl+C: leave them running)`,
          ]
        : [
            ` ${tasks} still running.  [s] stop them and quit   [d] detach (leave them running in the daemon)   [Esc] stay`,
            ` ${tasks} still running.  [s] stop them and quit  [d] detach (they keep running)  [Esc] stay`,
            ` ${tasks} running: [s] stop and quit  [d] detach  [Esc] stay`,
          ];
  const text = choices.find((c) => [...c].length <= width) ?? choices.at(-1)!;
  return (
    <Text backgroundColor="yellow" color="black" bold wrap="truncate-end">
      {fit(text, width)}
    </Text>
  );
});

export const Footer = memo(function Footer({ width, mode = 'normal' }: { width: number; mode?: Mode }) {
  return (
    <Text dimColor wrap="truncate-end">
      {fit(` ${footerText(width, mode)}`, width)}
    </Text>
  );
});

export const LogPane = memo(function LogPane({
  view,
  height,
  width,
  taskName,
  finished = false,
}: {
  view?: LogView;
  height: number;
  width: number;
  taskName?: string;
  /** The task has ended: no output is all it wrote, not "yet". */
  finished?: boolean;
}) {
  const title = view
    ? ` log · task ${view.taskId}${taskName ? ` ${taskName}` : ''}${view.attempt ? ` · attempt ${view.attempt}` : ''}${view.loading ? ' · loading…' : ''}${view.error ? ` · ${view.error}` : ''} `
    : ' log · no task selected ';
  const lines = view ? view.lines.slice(-height) : [];
  const shown = [];
  for (let i = 0; i < height; i++) {
    const line = lines[i];
    shown.push(
      <Text key={i} wrap="truncate-end" {...(line?.startsWith('! ') ? { color: 'red' } : {})}>
        {line === undefined
          ? i === 0 && view && !view.loading
            ? finished
              ? '  (this attempt wrote no output)'
              : '  (no output yet)'
            : ' '
          : ` ${line}`}
      </Text>,
    );
  }
  return (
    <Box flexDirection="column" height={height + 1}>
      <Text color="cyan" wrap="truncate-end">
        {rule(`──${title}`, width)}
      </Text>
      {shown}
    </Box>
  );
});

/**
 * A full-screen page (help, details) of exactly `height` lines: the lines that fit from `scroll`
 * on, and, when they do not all fit, a last line saying where the view is and how to scroll.
 * Every line arrives cut to the width (pages.ts), so nothing wraps or overlaps.
 */
export const Page = memo(function Page({
  lines,
  height,
  scroll,
  width,
}: {
  lines: readonly Line[];
  height: number;
  scroll: number;
  width: number;
}) {
  const scrollable = lines.length > height;
  const body = scrollable ? Math.max(1, height - 1) : height;
  const top = clampPageScroll(scroll, lines.length, height);
  const shown = [];
  for (let i = 0; i < body; i++) {
    const line = lines[top + i];
    const empty = !line || line.every((seg) => seg.text === '');
    shown.push(
      <Text key={i} wrap="truncate-end">
        {empty
          ? ' '
          : line.map((seg, j) => (
              <Text
                key={j}
                {...(seg.color ? { color: seg.color } : {})}
                bold={seg.bold === true}
                dimColor={seg.dim === true}
              >
                {seg.text}
              </Text>
            ))}
      </Text>,
    );
  }
  if (scrollable) {
    const last = Math.min(lines.length, top + body);
    const where = top === 0 ? '↓ more below' : last >= lines.length ? '↑ more above' : '↑↓ more above and below';
    shown.push(
      <Text key="more" color="cyan" wrap="truncate-end">
        {rule(` ── ${where} · lines ${top + 1}-${last} of ${lines.length} · ↑↓ PgUp PgDn Home End scroll `, width)}
      </Text>,
    );
  }
  return (
    <Box flexDirection="column" height={height}>
      {shown}
    </Box>
  );
});

/**
 * A cluster label `overflow` characters shorter, taken from its URL: first the scheme and the
 * user part, then the middle (the host's start says most); as it was if even that does not fit.
 */
function fitClusterLabel(label: string, overflow: number): string {
  const at = label.lastIndexOf(' queue ');
  const queue = at < 0 ? '' : label.slice(at);
  const url = at < 0 ? label : label.slice(0, at);
  const room = [...url].length - overflow;
  const host = [...url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/^[^@/]*@/, '')];
  if (host.length <= room) return host.join('') + queue;
  const keep = room - 1; // one character for the ellipsis
  if (keep < 6) return label;
  const tail = Math.floor(keep / 3);
  return `${host.slice(0, keep - tail).join('')}…${host.slice(host.length - tail).join('')}${queue}`;
}
