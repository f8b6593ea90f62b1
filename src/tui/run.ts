/**
 * The terminal UI's entry (loaded by main.ts once React's mode is settled): templates, the
 * connection (the local daemon, or a cluster: cluster-client.ts), the Ink render, and what is left
 * behind on quitting.
 */
import { createElement } from 'react';
import { render } from 'ink';
import type { TuiClient, ConnectFn } from './client.js';
import { errorText, tuiClientOf } from './client.js';
import { clusterConnector, clusterLabel, type ClusterTarget } from './cluster-client.js';
import { ConfigError, loadTemplates } from './config.js';
import { Controller, type QuitResult } from './controller.js';
import { App } from './components/app.js';
import { TuiStore } from './store.js';
import { FastPaint } from './fast-paint.js';
import { DaemonClient } from '../daemon/client.js';
import { EXIT } from '../common/exit-codes.js';

export const CLIENT_NAME = 'taskwarden-tui/0.1.0';

export interface TuiOptions {
  /** The daemon's state directory (as `taskwarden --home`). */
  home?: string;
  /** A template config file instead of ./taskwarden.config.json. */
  config?: string;
  /** Attach to this cluster (`taskwarden --cluster URL`) instead of the local daemon. */
  cluster?: ClusterTarget;
  /** For tests and benchmarks: streams and the daemon connection. */
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
  connect?: ConnectFn;
  /** Use the terminal's alternate screen (default true). */
  altScreen?: boolean;
}

export const NO_TTY_MESSAGE =
  'taskwarden: the terminal UI needs an interactive terminal (stdin is not a TTY); use the CLI instead: taskwarden --help';

/** See the render() call below. */
export const INCREMENTAL_RENDERING = process.env.TASKWARDEN_TUI_INCREMENTAL === '1';

const ALT_SCREEN_ON = '\x1b[?1049h\x1b[H\x1b[2J';
const ALT_SCREEN_OFF = '\x1b[?1049l';

/** Wraps a DaemonClient (src/daemon/client.ts) into what the UI uses; its greeting is set once connected. */
export function adaptClient(client: DaemonClient): TuiClient {
  return tuiClientOf(client, {
    welcome: client.welcome,
    request: (type, ...payload) => client.request(type, ...payload),
  });
}

/** Connects through the daemon client, to the daemon of `home`. */
export function daemonConnector(home?: string): ConnectFn {
  return async ({ autostart }) =>
    adaptClient(
      await DaemonClient.connect({ ...(home !== undefined ? { home } : {}), autostart, clientName: CLIENT_NAME }),
    );
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** After the UI is gone: shut down a daemon this UI started when nothing of ours should be left, then a last line. */
async function leave(result: QuitResult, stdout: NodeJS.WriteStream, options: TuiOptions): Promise<void> {
  const client = result.client;
  let daemonNote = '';
  if (client && result.startedDaemon && (result.how === 'stopped' || result.how === 'idle')) {
    try {
      await withTimeout(client.request('SHUTDOWN'), 10_000);
      daemonNote = '; the daemon it started is shut down';
    } catch (error) {
      daemonNote = `; could not shut the daemon down (${errorText(error)})`;
    }
  }
  const pid = client?.welcome?.daemonPid;
  const where = options.cluster
    ? `in cluster ${clusterLabel(options.cluster)}`
    : `in the daemon${pid ? ` (pid ${pid})` : ''}`;
  client?.close();
  switch (result.how) {
    case 'stopped':
      stdout.write(`taskwarden: stopped every task${daemonNote}.\n`);
      break;
    case 'detached':
      stdout.write(
        `taskwarden: detached; ${result.active} task${result.active === 1 ? '' : 's'} still running ${where}. Run taskwarden${options.cluster ? ' --cluster …' : ''} again to get back to them.\n`,
      );
      break;
    case 'idle':
      if (daemonNote) stdout.write(`taskwarden: bye${daemonNote}.\n`);
      break;
    case 'leftStarting': {
      const home = options.home;
      const shutdown = `taskwarden${home !== undefined ? ` --home ${JSON.stringify(home)}` : ''} shutdown`;
      stdout.write(
        `taskwarden: quit before the daemon it was starting was up; it may be left running: ${shutdown} stops it.\n`,
      );
      break;
    }
    case 'disconnected':
      break;
  }
}

/** The CLI reads process.exitCode after the command: set it for the failures this module reports itself. */
function failed(code: number): number {
  process.exitCode = code;
  return code;
}

/** Runs the UI until the user quits; resolves with an exit code (0, or 2 without a TTY or with a bad config). */
export async function runTuiApp(options: TuiOptions = {}): Promise<number> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  if (!stdin.isTTY) {
    stderr.write(`${NO_TTY_MESSAGE}\n`);
    return failed(EXIT.usage);
  }
  let loaded;
  try {
    loaded = await loadTemplates(options.config !== undefined ? { config: options.config } : {});
  } catch (error) {
    stderr.write(
      error instanceof ConfigError
        ? `taskwarden: bad config file ${error.message}\n`
        : `taskwarden: cannot load templates: ${errorText(error)}\n`,
    );
    return failed(EXIT.usage);
  }
  const connect =
    options.connect ?? (options.cluster ? clusterConnector(options.cluster) : daemonConnector(options.home));

  const store = new TuiStore({
    templates: loaded.templates,
    ...(loaded.file ? { templatesSource: loaded.file } : {}),
    size: { columns: stdout.columns || 80, rows: stdout.rows || 24 },
    ...(options.cluster ? { cluster: clusterLabel(options.cluster) } : {}),
  });
  const altScreen = options.altScreen ?? true;
  // The fast path needs to know where the frame is: only on the alternate screen, which the frame owns from the top.
  const inCi = ['CI', 'CONTINUOUS_INTEGRATION'].some(
    (k) => k in process.env && process.env[k] !== '0' && process.env[k] !== 'false',
  );
  const fastPaint = altScreen && stdout.isTTY && !inCi ? new FastPaint(stdout, store) : undefined;
  const controller = new Controller({
    store,
    connect,
    ...(fastPaint ? { paint: (ids: readonly string[]) => fastPaint.paint(ids) } : {}),
  });
  if (altScreen) stdout.write(ALT_SCREEN_ON);
  const instance = render(createElement(App, { controller }), {
    stdin,
    stdout,
    stderr,
    exitOnCtrlC: false,
    patchConsole: true,
    onRender: () => store.frameRendered(),
    // The store already caps background updates at ~30 fps and commits a key press at once;
    // Ink's own throttle would only delay that frame.
    maxFps: 0,
    // Ink 6.8.0's incremental log-update moves the cursor up one line too few when the frame ends
    // with a newline (every frame shorter than the screen, which this UI keeps so that Ink does not
    // clear the whole terminal on each frame): the picture creeps down and tears. The standard
    // renderer rewrites the frame inside a synchronized-output block instead (no flicker where the
    // terminal supports it); bench/tui.ts measures what a frame costs.
    incrementalRendering: INCREMENTAL_RENDERING,
  });
  // A closed terminal (SIGHUP, or writes failing) or SIGTERM: detach, the tasks live on in the daemon.
  const onSignal = () => controller.dispatch({ type: 'quitDetach' });
  process.once('SIGHUP', onSignal);
  process.once('SIGTERM', onSignal);
  stdout.on('error', onSignal);
  void controller.start();
  let result: QuitResult;
  try {
    result = await controller.done;
  } finally {
    process.off('SIGHUP', onSignal);
    process.off('SIGTERM', onSignal);
    stdout.off('error', onSignal);
    instance.unmount();
    instance.cleanup();
    controller.dispose();
    // Keys typed before the UI took the terminal were echoed on the line it started from: clear it.
    if (altScreen) stdout.write(`${ALT_SCREEN_OFF}\r\x1b[K`);
  }
  try {
    await leave(result, stdout, options);
  } catch {
    // the terminal is gone: nobody to tell
  }
  return 0;
}
