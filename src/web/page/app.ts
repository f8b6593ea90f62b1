/**
 * The web page: the daemon's tasks, live, from one event stream (Server-Sent Events, resumed from the
 * last event id after a dropped connection), and the buttons, each a POST of a protocol request.
 * A stop button changes its row at once, in the click's own frame (optimistic, as the terminal UI
 * does), then the row and the status line show the daemon's confirmed outcome with its time.
 * Rows are rendered in animation frames, only those that changed and are on screen (view.ts);
 * frames for progress and usage reports alone are paced (PACED_FRAME_MS), state changes and clicks
 * never wait. `window.taskwarden` exposes the click metrics and a frame recorder for the benchmark.
 */
import { duration, outcomeText, stateLabel, timeOfDay, valueText, type PendingAction } from './format.js';
import { applyEvent, byCreation, isTerminal, type TaskEvent, type WireLogLine, type WireTask } from './model.js';
import { TaskTable, type Pending } from './view.js';

/** The daemon's or the cluster's state (src/web/backend.ts, BackendState). */
interface DaemonState {
  kind: 'daemon' | 'cluster';
  up: boolean;
  home: string;
  pause: boolean;
  cluster?: { queue: string; agents: string[] };
  pid?: number;
  since: number;
  reason?: string;
  health?: { journal: { writable: boolean; message?: string }; logs: { writable: boolean; message?: string } };
}

type PageMessage =
  | TaskEvent
  | { type: 'SNAPSHOT'; tasks: WireTask[]; daemon: DaemonState; now: number }
  | { type: 'DAEMON_STATE'; daemon: DaemonState }
  | { type: 'DAEMON_HEALTH'; health: DaemonState['health'] };

interface ClickMetric {
  action: string;
  taskId: string;
  /** Click (the input event's time) -> the frame that shows the pending label. */
  clickToShownMs?: number;
  /** Click -> this page's handler runs: the browser's input dispatch. */
  dispatchMs?: number;
  /** The handler's own work: the row redrawn with the pending label. */
  handlerMs?: number;
  /** Click -> the daemon's confirmed outcome on screen. */
  clickToConfirmedMs?: number;
  outcome?: string;
}

const MAX_LOG_LINES = 2000;
/** Click metrics kept (the benchmark reads them). */
const MAX_METRICS = 1000;
const LOG_TAIL_BYTES = 64 * 1024;
/** Frames for reports only (progress, usage) are at least this far apart (about 20 a second). */
const PACED_FRAME_MS = 50;
/** How long the emergency stop waits for its confirming second click. */
const STOP_ALL_ARMED_MS = 4000;

const $ = (id: string): HTMLElement => document.getElementById(id)!;

class App {
  readonly tasks = new Map<string, WireTask>();
  readonly pending = new Map<string, Pending>();
  readonly metrics: ClickMetric[] = [];
  eventsReceived = 0;
  readonly #table: TaskTable;
  readonly #dirty = new Set<string>();
  readonly #stallSeenAt = new Map<string, number>();
  #orderChanged = true;
  #frameRequested = false;
  #pacedTimer: number | undefined;
  #lastFrame = -Infinity;
  #clockOffset = 0;
  #daemon: DaemonState | undefined;
  #lastEventId: string | undefined;
  #selected: string | undefined;
  /** Log lines are shown from the event stream past this event id (what the LOGS reply held is before it). */
  #logFromSeq = Infinity;
  /** The selected task's log lines that came while its LOGS request was under way: sorted out by the reply's seq. */
  #logWhileLoading: Array<{ log: WireLogLine; seq: number }> | undefined;
  #logAttempt = 0;
  #detailsTimer: number | undefined;
  #stopAllArmed: number | undefined;
  #frameRecorder: { deltas: number[]; work: number[]; last: number } | undefined;

  constructor() {
    this.#table = new TaskTable(document.getElementById('task-rows') as HTMLTableSectionElement, {
      action: (id, action, event) => this.#act(id, action, event),
      select: (id) => this.#select(id),
      visible: (ids) => {
        for (const id of ids) this.#dirty.add(id);
        this.#requestFrame();
      },
    });
    $('stop-all').addEventListener('click', (event) => this.#stopAll(event));
    $('start-daemon').addEventListener('click', () => void this.#startDaemon());
    $('details-close').addEventListener('click', () => this.#select(undefined));
    setInterval(() => this.#tick(), 1000);
  }

  now(): number {
    return Date.now() + this.#clockOffset;
  }

  start(): void {
    void this.#loadTemplates();
    this.#connect();
  }

  // ---- the event stream -------------------------------------------------------------------------

  #connect(): void {
    const url = this.#lastEventId ? `/api/events?lastEventId=${encodeURIComponent(this.#lastEventId)}` : '/api/events';
    const source = new EventSource(url);
    source.onopen = () => this.#banner(undefined);
    source.onmessage = (event) => {
      this.#lastEventId = event.lastEventId || this.#lastEventId;
      // One SSE message per server turn: an array whose last element is number lastEventId.
      const messages = JSON.parse(event.data as string) as PageMessage[];
      const first = seqOf(event.lastEventId) - messages.length + 1;
      this.eventsReceived += messages.length;
      for (let i = 0; i < messages.length; i++) this.#onMessage(messages[i], first + i);
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CONNECTING) {
        this.#banner('Lost the connection to the web server: reconnecting…');
        return;
      }
      // Closed for good (the server answered with an error): find out why, then try again.
      source.close();
      void this.#whyClosed();
    };
  }

  async #whyClosed(): Promise<void> {
    try {
      const response = await fetch('/api/session');
      if (response.status === 401) {
        this.#banner(
          'This page\'s access token is no longer valid (the web server was restarted): open the address "taskwarden web" printed.',
        );
        return;
      }
      this.#banner('The event stream was refused: reconnecting…');
    } catch {
      this.#banner('The web server is not answering ("taskwarden web" stopped?): reconnecting…');
    }
    setTimeout(() => this.#connect(), 1000);
  }

  #onMessage(message: PageMessage, seq: number): void {
    let paced = false;
    switch (message.type) {
      case 'SNAPSHOT':
        this.#clockOffset = message.now - Date.now();
        this.tasks.clear();
        for (const task of message.tasks) this.tasks.set(task.id, task);
        for (const id of this.pending.keys()) if (!this.tasks.has(id)) this.pending.delete(id);
        for (const task of message.tasks) this.#observe(task);
        this.#setDaemon(message.daemon);
        this.#orderChanged = true;
        for (const id of this.tasks.keys()) this.#dirty.add(id);
        if (this.#selected) this.#refreshDetails(true);
        break;
      case 'DAEMON_STATE':
        this.#setDaemon(message.daemon);
        break;
      case 'DAEMON_HEALTH':
        if (this.#daemon) this.#setDaemon({ ...this.#daemon, health: message.health });
        break;
      case 'TASK_LOG':
        // Written to the details straight away; the table does not change.
        this.#onLog(message.log, seq);
        return;
      default: {
        // Progress, usage and stall reports come in floods: they wait for the next paced frame.
        if (message.type !== 'TASK_STATUS' && message.type !== 'TASK_COMPLETE') paced = true;
        const known = 'task' in message ? this.tasks.has(message.task.id) : true;
        const id = applyEvent(this.tasks, message);
        if (!id) break;
        if (!known) this.#orderChanged = true;
        if (message.type === 'TASK_STALL') this.#stallSeenAt.set(id, Date.now());
        this.#dirty.add(id);
        this.#observe(this.tasks.get(id)!);
        if (id === this.#selected && 'task' in message) this.#refreshDetails(false);
      }
    }
    this.#requestFrame(paced);
  }

  // ---- rendering ---------------------------------------------------------------------------------

  /**
   * A frame for what changed. `paced`: only reports (progress, usage) changed, so the frame may wait
   * until PACED_FRAME_MS after the last one: rows that change ten times a second are painted
   * together, not each in a frame of its own, and the browser keeps its time for scrolling and
   * clicks. State changes and clicks are never paced.
   */
  #requestFrame(paced = false): void {
    if (this.#frameRequested) {
      if (paced || this.#pacedTimer === undefined) return;
      // Something that must not wait came in while a paced frame waited: draw now.
      window.clearTimeout(this.#pacedTimer);
      this.#pacedTimer = undefined;
      requestAnimationFrame(() => this.#frame());
      return;
    }
    this.#frameRequested = true;
    const wait = paced ? this.#lastFrame + PACED_FRAME_MS - performance.now() : 0;
    if (wait <= 0) {
      requestAnimationFrame(() => this.#frame());
      return;
    }
    this.#pacedTimer = window.setTimeout(() => {
      this.#pacedTimer = undefined;
      requestAnimationFrame(() => this.#frame());
    }, wait);
  }

  #frame(): void {
    if (!this.#frameRequested) return;
    this.#frameRequested = false;
    const started = performance.now();
    this.#lastFrame = started;
    if (this.#orderChanged) {
      this.#orderChanged = false;
      this.#table.arrange([...this.tasks.values()].sort(byCreation).map((t) => t.id));
      $('empty').hidden = this.tasks.size > 0;
    }
    const now = this.now();
    // Rows off screen stay dirty until they come on screen (TaskTable's visible callback).
    for (const id of this.#dirty) {
      if (!this.#table.isOnScreen(id)) continue;
      this.#renderRow(id, now);
      this.#dirty.delete(id);
    }
    this.#renderCounts();
    this.#frameRecorder?.work.push(performance.now() - started);
  }

  #renderRow(id: string, now: number): void {
    const task = this.tasks.get(id);
    if (!task) return;
    const seenAt = this.#stallSeenAt.get(id);
    this.#table.render(task, this.pending.get(id), now, seenAt === undefined ? 0 : Date.now() - seenAt);
  }

  #tick(): void {
    this.#table.tick(this.now());
    for (const [id, task] of this.tasks)
      if (task.stall && !isTerminal(task.state) && this.#table.isOnScreen(id)) this.#dirty.add(id);
    this.#requestFrame();
  }

  #renderCounts(): void {
    let running = 0;
    let queued = 0;
    let finished = 0;
    for (const task of this.tasks.values()) {
      if (task.state === 'queued') queued += 1;
      else if (isTerminal(task.state)) finished += 1;
      else running += 1;
    }
    setText($('counts'), `${running} running · ${queued} queued · ${finished} finished`);
  }

  #setDaemon(daemon: DaemonState): void {
    if (daemon.pause !== this.#daemon?.pause) {
      this.#table.canPause = daemon.pause;
      for (const id of this.tasks.keys()) this.#dirty.add(id);
    }
    this.#daemon = daemon;
    document.body.dataset.kind = daemon.kind;
    const element = $('daemon');
    element.dataset.up = String(daemon.up);
    if (daemon.kind === 'cluster') {
      const agents = daemon.cluster?.agents ?? [];
      setText(
        element,
        daemon.up
          ? `cluster ${daemon.home} · queue ${daemon.cluster?.queue ?? ''} · ${agents.length === 0 ? 'no agent alive' : `agents ${agents.join(', ')}`}`
          : `cluster's Redis ${daemon.home} not answering since ${timeOfDay(daemon.since)}${daemon.reason ? ` (${daemon.reason})` : ''}`,
      );
    } else if (daemon.up) {
      const health = daemon.health;
      const trouble =
        health && (!health.journal.writable || !health.logs.writable)
          ? ` · ⚠ ${!health.journal.writable ? 'journal' : 'task logs'} cannot be written`
          : '';
      setText(element, `daemon pid ${daemon.pid} · ${daemon.home}${trouble}`);
    } else {
      setText(
        element,
        `daemon not running since ${timeOfDay(daemon.since)}${daemon.reason ? ` (${daemon.reason})` : ''}`,
      );
    }
    $('start-daemon').hidden = daemon.up || daemon.kind === 'cluster';
    $('stop-all').toggleAttribute('disabled', !daemon.up);
  }

  #banner(text: string | undefined): void {
    const banner = $('banner');
    banner.hidden = text === undefined;
    setText(banner, text ?? '');
  }

  #status(text: string, tone: 'info' | 'busy' | 'success' | 'warn' | 'error'): void {
    const status = $('status');
    status.dataset.tone = tone;
    setText(status, `${timeOfDay(this.now())}  ${text}`);
  }

  // ---- the buttons -------------------------------------------------------------------------------

  #act(id: string, action: PendingAction, event: MouseEvent): void {
    const task = this.tasks.get(id);
    if (!task) return;
    const at = performance.now();
    const metric: ClickMetric = { action, taskId: id, dispatchMs: at - event.timeStamp };
    this.#keepMetric(metric);
    this.pending.set(id, { action, at, attempt: task.attempt });
    // The pending label goes on screen in this very frame, before the daemon hears of the click.
    this.#renderRow(id, this.now());
    metric.handlerMs = performance.now() - at;
    const clickedAt = event.timeStamp;
    performance.mark(`taskwarden:click:${action}:${id}`, { startTime: clickedAt });
    requestAnimationFrame(() => {
      performance.mark(`taskwarden:shown:${action}:${id}`);
      metric.clickToShownMs = performance.now() - clickedAt;
    });
    const type = REQUEST_OF[action];
    void this.#post('/api/request', { type, taskId: id }).then(
      () => this.#observe(this.tasks.get(id) ?? task),
      (failure: unknown) => {
        const error = failure as Error;
        this.pending.delete(id);
        this.#dirty.add(id);
        this.#requestFrame();
        metric.outcome = `error: ${error.message}`;
        this.#status(`${action} of task ${id} failed: ${error.message}`, 'error');
      },
    );
  }

  /** A task changed: if a click on this page is waiting for it, this may be its confirmed outcome. */
  #observe(task: WireTask): void {
    const pending = this.pending.get(task.id);
    if (!pending || pending.action === 'stop') return;
    const ms = performance.now() - pending.at;
    let text: string | undefined;
    let tone: 'success' | 'warn' = 'success';
    if (pending.action === 'pause' || pending.action === 'resume') {
      const done = pending.action === 'pause' ? 'paused' : 'running';
      if (task.state !== done && !isTerminal(task.state)) return;
      text =
        task.state === done
          ? `Task ${task.id} ${pending.action === 'pause' ? 'paused' : 'resumed'} (${duration(ms)})`
          : `Task ${task.id} ${task.state} before the ${pending.action} took effect (${duration(ms)})`;
      if (task.state !== done) tone = 'warn';
    } else if (pending.action === 'restart') {
      if (task.attempt <= pending.attempt || (task.state !== 'running' && !isTerminal(task.state))) return;
      text = `Task ${task.id} restarted: attempt ${task.attempt} ${task.state} (${duration(ms)})`;
    } else {
      if (!isTerminal(task.state) || task.attempt !== pending.attempt) return;
      if (task.state === 'killed') {
        text = `Task ${task.id} killed (${task.outcome?.signal ?? 'SIGKILL'}) after ${duration(ms)}`;
        if (pending.action === 'cancel')
          text += ': it ignored the cancel, so it was killed when the grace period ran out';
      } else if (task.state === 'cancelled') {
        text = `Task ${task.id} cancelled after ${duration(ms)}`;
      } else {
        text = `Task ${task.id} ${task.state} before the ${pending.action} took effect (${duration(ms)})`;
        tone = 'warn';
      }
    }
    this.pending.delete(task.id);
    this.#dirty.add(task.id);
    this.#status(text, tone);
    const metric = [...this.metrics].reverse().find((m) => m.taskId === task.id && m.clickToConfirmedMs === undefined);
    if (metric) {
      metric.clickToConfirmedMs = ms;
      metric.outcome = task.state;
    }
  }

  /** Two clicks on the same spot: the first arms it (and says how many tasks), the second stops everything. */
  #stopAll(event: MouseEvent): void {
    const button = $('stop-all');
    const active = [...this.tasks.values()].filter((t) => !isTerminal(t.state));
    if (this.#stopAllArmed === undefined) {
      if (active.length === 0) return this.#status('Nothing to stop: no task is running or queued.', 'info');
      button.dataset.armed = 'true';
      setText(button, `Click again to stop ${plural(active.length, 'task')}`);
      this.#stopAllArmed = window.setTimeout(() => this.#disarmStopAll(), STOP_ALL_ARMED_MS);
      return;
    }
    this.#disarmStopAll();
    const at = performance.now();
    const metric: ClickMetric = { action: 'stop-all', taskId: '*' };
    this.#keepMetric(metric);
    for (const task of active) {
      this.pending.set(task.id, { action: 'stop', at, attempt: task.attempt });
      this.#renderRow(task.id, this.now());
    }
    this.#status(`Emergency stop — terminating ${plural(active.length, 'task')}…`, 'busy');
    const clickedAt = event.timeStamp;
    requestAnimationFrame(() => (metric.clickToShownMs = performance.now() - clickedAt));
    void this.#post('/api/request', { type: 'STOP_ALL' })
      .then(
        (reply) => {
          const result = (reply.result ?? {}) as {
            cancelled?: number;
            killed?: number;
            notStarted?: number;
            finished?: number;
          };
          const parts = [`${result.cancelled ?? 0} cancelled`, `${result.killed ?? 0} killed`];
          if (result.notStarted) parts.push(`${result.notStarted} not started`);
          if (result.finished) parts.push(`${result.finished} finished on their own`);
          const stopped = (result.cancelled ?? 0) + (result.killed ?? 0) + (result.notStarted ?? 0);
          metric.clickToConfirmedMs = performance.now() - at;
          metric.outcome = 'stopped';
          this.#status(
            `Stopped ${plural(stopped, 'task')} in ${duration(performance.now() - at)} (${parts.join(', ')})`,
            'success',
          );
        },
        (error: unknown) => this.#status(`Emergency stop failed: ${(error as Error).message}`, 'error'),
      )
      .finally(() => {
        for (const task of active) {
          if (this.pending.get(task.id)?.action === 'stop') this.pending.delete(task.id);
          this.#dirty.add(task.id);
        }
        this.#requestFrame();
      });
  }

  #disarmStopAll(): void {
    window.clearTimeout(this.#stopAllArmed);
    this.#stopAllArmed = undefined;
    const button = $('stop-all');
    delete button.dataset.armed;
    setText(button, 'Stop everything');
  }

  async #loadTemplates(): Promise<void> {
    const nav = $('templates');
    try {
      const response = await fetch('/api/templates');
      const { templates } = (await response.json()) as {
        templates: Array<{ key: number; name: string; description?: string }>;
      };
      for (const template of templates) {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'template';
        button.dataset.template = String(template.key);
        button.textContent = `${template.key} · ${template.name}`;
        if (template.description) button.title = template.description;
        button.addEventListener('click', () => void this.#startTemplate(template.key, template.name));
        nav.append(button);
      }
    } catch (error) {
      this.#status(`Could not load the templates: ${String(error)}`, 'error');
    }
  }

  async #startTemplate(key: number, name: string): Promise<void> {
    try {
      const reply = await this.#post('/api/start', { template: key });
      const task = reply.task as WireTask;
      this.#status(`Started task ${task.id} (${name})`, 'info');
    } catch (error) {
      this.#status(`Could not start "${name}": ${(error as Error).message}`, 'error');
    }
  }

  async #startDaemon(): Promise<void> {
    this.#status('Starting the daemon…', 'busy');
    try {
      await this.#post('/api/daemon/start', {});
      this.#status('The daemon is running.', 'success');
    } catch (error) {
      this.#status(`Could not start the daemon: ${(error as Error).message}`, 'error');
    }
  }

  async #post(path: string, body: object): Promise<Record<string, unknown>> {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await response.json().catch(() => ({}))) as Record<string, unknown> & {
      error?: { code: string; message: string };
    };
    if (!response.ok)
      throw new Error(json.error ? `${json.error.code}: ${json.error.message}` : `HTTP ${response.status}`);
    return json;
  }

  // ---- the selected task's details ----------------------------------------------------------------

  #select(id: string | undefined): void {
    this.#selected = id;
    this.#table.select(id);
    $('details').hidden = id === undefined;
    if (!id) return;
    // What the page knows at once; the record (attempts, result) follows from GET.
    const task = this.tasks.get(id);
    if (task) this.#renderDetails(task, []);
    $('details-log').textContent = '';
    this.#refreshDetails(true);
  }

  /** The record (attempts, error, result) now and then; the log once, then it follows the events. */
  #refreshDetails(withLog: boolean): void {
    const id = this.#selected;
    if (!id) return;
    window.clearTimeout(this.#detailsTimer);
    this.#detailsTimer = window.setTimeout(() => void this.#loadDetails(id, withLog), withLog ? 0 : 150);
  }

  async #loadDetails(id: string, withLog: boolean): Promise<void> {
    try {
      const record = await this.#post('/api/request', { type: 'GET', taskId: id });
      if (this.#selected !== id) return;
      this.#renderDetails(record.task as WireTask, (record.attempts ?? []) as Array<Record<string, unknown>>);
      if (!withLog) return;
      this.#logWhileLoading = [];
      this.#logFromSeq = Infinity;
      const logs = await this.#post('/api/request', { type: 'LOGS', taskId: id, tailBytes: LOG_TAIL_BYTES });
      if (this.#selected !== id) return;
      const pre = $('details-log');
      pre.textContent = '';
      this.#logAttempt = logs.attempt as number;
      this.#logFromSeq = logs.seq as number;
      for (const { stream, line } of logs.lines as Array<{ stream: string; line: string }>)
        appendLogLine(pre, line, stream);
      const arrived = this.#logWhileLoading;
      this.#logWhileLoading = undefined;
      for (const { log, seq } of arrived) this.#onLog(log, seq);
      pre.scrollTop = pre.scrollHeight;
    } catch (error) {
      if (this.#selected === id) this.#logWhileLoading = undefined;
      this.#status(`Could not load task ${id}: ${(error as Error).message}`, 'error');
    }
  }

  #onLog(log: WireLogLine, seq: number): void {
    if (log.taskId !== this.#selected) return;
    if (this.#logWhileLoading) {
      this.#logWhileLoading.push({ log, seq });
      return;
    }
    if (seq <= this.#logFromSeq) return;
    const pre = $('details-log');
    const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    if (log.attempt !== this.#logAttempt) {
      this.#logAttempt = log.attempt;
      appendLogLine(pre, `── attempt ${log.attempt} ──`, 'marker');
    }
    appendLogLine(pre, log.line, log.stream);
    while (pre.childNodes.length > MAX_LOG_LINES) pre.firstChild!.remove();
    if (follow) pre.scrollTop = pre.scrollHeight;
  }

  #renderDetails(task: WireTask, attempts: Array<Record<string, unknown>>): void {
    setText($('details-title'), `Task ${task.id} · ${task.name}`);
    const facts: Array<[string, string]> = [
      ['state', isTerminal(task.state) ? outcomeText(task) : stateLabel(task.state)],
      ['attempt', String(task.attempt)],
      ['pid', task.pid === undefined ? '' : String(task.pid)],
      [
        'what',
        clip(
          'module' in task.spec
            ? `module ${String(task.spec.module)}`
            : `${String(task.spec.command)} ${((task.spec.args as string[] | undefined) ?? []).join(' ')}`,
          160,
        ),
      ],
      ['created', timeOfDay(task.createdAt)],
      ['started', task.startedAt ? timeOfDay(task.startedAt) : ''],
      ['ended', task.endedAt ? timeOfDay(task.endedAt) : ''],
    ];
    const dl = $('details-facts');
    dl.textContent = '';
    for (const [term, value] of facts) {
      if (!value) continue;
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dl.append(dt, dd);
    }
    const error = task.outcome?.error;
    $('details-error-box').hidden = !error;
    setText(
      $('details-error'),
      error ? `${error.name}${error.code ? ` [${error.code}]` : ''}: ${error.message}\n${error.stack ?? ''}` : '',
    );
    const hasResult = task.outcome?.result !== undefined;
    $('details-result-box').hidden = !hasResult;
    setText($('details-result'), hasResult ? valueText(task.outcome!.result) : '');
    const body = $('details-attempts');
    body.textContent = '';
    for (const attempt of attempts) {
      const tr = document.createElement('tr');
      const started = attempt.startedAt as number | undefined;
      const ended = attempt.endedAt as number | undefined;
      const cells = [
        String(attempt.attempt ?? ''),
        attempt.pid === undefined || attempt.pid === null ? '' : String(attempt.pid),
        started ? timeOfDay(started) : '',
        ended ? timeOfDay(ended) : '',
        String(attempt.state ?? attempt.outcome ?? ''),
      ];
      for (const text of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      body.append(tr);
    }
  }

  // ---- for the benchmark ---------------------------------------------------------------------------

  #keepMetric(metric: ClickMetric): void {
    this.metrics.push(metric);
    if (this.metrics.length > MAX_METRICS) this.metrics.splice(0, this.metrics.length - MAX_METRICS);
  }

  /** Records frame intervals and the page's own work per frame until stopFrames(). */
  recordFrames(): void {
    this.#frameRecorder = { deltas: [], work: [], last: performance.now() };
    const recorder = this.#frameRecorder;
    const loop = (time: number) => {
      if (this.#frameRecorder !== recorder) return;
      recorder.deltas.push(time - recorder.last);
      recorder.last = time;
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  stopFrames(): { deltas: number[]; work: number[] } {
    const recorder = this.#frameRecorder ?? { deltas: [], work: [] };
    this.#frameRecorder = undefined;
    return { deltas: recorder.deltas.slice(1), work: recorder.work };
  }
}

/** The protocol request each row button sends. */
const REQUEST_OF = {
  cancel: 'TASK_CANCEL',
  kill: 'TASK_KILL',
  restart: 'TASK_RESTART',
  pause: 'TASK_PAUSE',
  resume: 'TASK_RESUME',
  stop: 'STOP_ALL',
} as const;

function seqOf(lastEventId: string): number {
  const seq = Number(lastEventId.split('-')[1]);
  return Number.isFinite(seq) ? seq : 0;
}

function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

function appendLogLine(pre: HTMLElement, line: string, stream: string): void {
  const span = document.createElement('span');
  span.className = `log-${stream}`;
  span.textContent = `${line}\n`;
  pre.append(span);
}

/** A long command line cut to fit the details (taskwarden show has it whole). */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

const app = new App();
(window as unknown as { taskwarden: App }).taskwarden = app;
app.start();
