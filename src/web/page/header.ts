/**
 * The page's header lines: what it shows (a daemon, or a cluster and its agents) and whether that
 * is up, the banner for a lost connection, and the status line that says what a click came to.
 */
import { byId, setText } from './dom.js';
import { timeOfDay } from './format.js';
import type { WireBackendState } from './model.js';

export type StatusTone = 'info' | 'busy' | 'success' | 'warn' | 'error';
/** Writes the status line (stamped with the daemon's time of day). */
export type ShowStatus = (text: string, tone: StatusTone) => void;

export function showBackend(daemon: WireBackendState): void {
  document.body.dataset.kind = daemon.kind;
  const element = byId('daemon');
  element.dataset.up = String(daemon.up);
  setText(element, backendLine(daemon));
  byId('start-daemon').hidden = daemon.up || daemon.kind === 'cluster';
  byId('stop-all').toggleAttribute('disabled', !daemon.up);
}

function backendLine(daemon: WireBackendState): string {
  const why = daemon.reason ? ` (${daemon.reason})` : '';
  if (daemon.kind === 'cluster') {
    const agents = daemon.cluster?.agents ?? [];
    return daemon.up
      ? `cluster ${daemon.home} · queue ${daemon.cluster?.queue ?? ''} · ${agents.length === 0 ? 'no agent alive' : `agents ${agents.join(', ')}`}`
      : `cluster's Redis ${daemon.home} not answering since ${timeOfDay(daemon.since)}${why}`;
  }
  if (!daemon.up) return `daemon not running since ${timeOfDay(daemon.since)}${why}`;
  const health = daemon.health;
  const trouble =
    health && (!health.journal.writable || !health.logs.writable)
      ? ` · ⚠ ${!health.journal.writable ? 'journal' : 'task logs'} cannot be written`
      : '';
  return `daemon pid ${daemon.pid} · ${daemon.home}${trouble}`;
}

export function showBanner(text: string | undefined): void {
  const banner = byId('banner');
  banner.hidden = text === undefined;
  setText(banner, text ?? '');
}

export function showStatus(text: string, tone: StatusTone, now: number): void {
  const status = byId('status');
  status.dataset.tone = tone;
  setText(status, `${timeOfDay(now)}  ${text}`);
}
