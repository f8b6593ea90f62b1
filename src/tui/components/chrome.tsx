/** Everything around the table: header, status line, quit prompt, key footer, log pane, help. */
import { memo } from 'react';
import { Box, Text } from 'ink';
import { journalProblem, logsProblem, type DaemonHealth } from '../../daemon/health.js';
import { ACTIVE_STATES, TERMINAL_STATES, type TaskState } from '../../supervisor/types.js';
import { fit, STATE_STYLES } from '../format.js';
import { FOOTER_KEYS, KEY_HELP } from '../keys.js';
import type { DaemonStatus, LogView, MachineLoad, StatusLine, Tone } from '../store.js';
import type { Template } from '../templates.js';

export const TONE_COLORS: Record<Tone, string> = { info: 'white', busy: 'cyan', success: 'green', warn: 'yellow', error: 'red' };

export const Header = memo(function Header({
  daemon,
  counts,
  load,
  health,
  width,
}: {
  daemon: DaemonStatus;
  counts: Readonly<Partial<Record<TaskState, number>>>;
  load?: MachineLoad;
  /** A failing journal (else failing task logs) is shown next to the daemon: what a client sees may not be on disk. */
  health?: DaemonHealth;
  width: number;
}) {
  const daemonText =
    daemon.kind === 'connected'
      ? `● daemon pid ${daemon.pid}`
      : daemon.kind === 'connecting'
        ? `◌ daemon ${daemon.text}`
        : `✘ daemon gone: ${daemon.reason}`;
  const daemonColor = daemon.kind === 'connected' ? 'green' : daemon.kind === 'connecting' ? 'cyan' : 'red';
  const loadText = load ? `load ${load.load1.toFixed(2)} / ${load.cpus} CPU${load.cpus === 1 ? '' : 's'} · mem ${Math.round(load.memUsedFraction * 100)}%` : '';
  const journal = journalProblem(health);
  const problem = journal ?? logsProblem(health);
  const problemText = problem ? `  ⚠ ${problem}` : '';
  const title = ' taskwarden ';
  const left = `${title} ${daemonText}${problemText}`;
  const gap = Math.max(1, width - [...left].length - [...loadText].length);
  const parts: Array<{ state: TaskState; n: number }> = [];
  for (const state of [...ACTIVE_STATES, ...TERMINAL_STATES]) {
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
            <Text> {total} task{total === 1 ? '' : 's'}: </Text>
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

export const QuitPrompt = memo(function QuitPrompt({ active, width, stopping }: { active: number; width: number; stopping: boolean }) {
  const text = stopping
    ? ` Stopping ${active} task${active === 1 ? '' : 's'} before quitting… (Ctrl+C: leave them to the daemon)`
    : ` ${active} task${active === 1 ? '' : 's'} still running.  [s] stop them and quit   [d] detach (leave them running in the daemon)   [Esc] stay`;
  return (
    <Text backgroundColor="yellow" color="black" bold wrap="truncate-end">
      {fit(text, width)}
    </Text>
  );
});

export const Footer = memo(function Footer({ width }: { width: number }) {
  return (
    <Text dimColor wrap="truncate-end">
      {fit(` ${FOOTER_KEYS}`, width)}
    </Text>
  );
});

export const LogPane = memo(function LogPane({ view, height, width, taskName }: { view?: LogView; height: number; width: number; taskName?: string }) {
  const title = view
    ? ` log · task ${view.taskId}${taskName ? ` ${taskName}` : ''}${view.attempt ? ` · attempt ${view.attempt}` : ''}${view.loading ? ' · loading…' : ''}${view.error ? ` · ${view.error}` : ''} `
    : ' log · no task selected ';
  const lines = view ? view.lines.slice(-height) : [];
  const shown = [];
  for (let i = 0; i < height; i++) {
    const line = lines[i];
    shown.push(
      <Text key={i} wrap="truncate-end" {...(line?.startsWith('! ') ? { color: 'red' } : {})}>
        {line === undefined ? (i === 0 && view && !view.loading ? '  (no output yet)' : ' ') : ` ${line}`}
      </Text>,
    );
  }
  return (
    <Box flexDirection="column" height={height + 1}>
      <Text color="cyan" wrap="truncate-end">
        {fit(`──${title}${'─'.repeat(width)}`, width)}
      </Text>
      {shown}
    </Box>
  );
});

export const Help = memo(function Help({ templates, source, height }: { templates: readonly Template[]; source?: string; height: number }) {
  return (
    <Box flexDirection="column" height={height} overflow="hidden">
      <Text bold> Keys</Text>
      {KEY_HELP.map((k) => (
        <Text key={k.keys} wrap="truncate-end">
          {'  '}
          <Text color="cyan">{fit(k.keys, 24)}</Text> {k.what}
        </Text>
      ))}
      <Text> </Text>
      <Text bold wrap="truncate-end">
        {' '}Templates <Text dimColor>({source ? `from ${source}` : 'built-in defaults; put a taskwarden.config.json here or pass --config to change them'})</Text>
      </Text>
      {templates.map((t) => (
        <Text key={t.key} wrap="truncate-end">
          {'  '}
          <Text color="cyan">{t.key}</Text> {t.name}
          {t.description ? <Text dimColor> — {t.description}</Text> : null}
        </Text>
      ))}
      <Text> </Text>
      <Text dimColor> Press any key to close this help.</Text>
    </Box>
  );
});
