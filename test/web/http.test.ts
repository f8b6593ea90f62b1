/**
 * The web server at the HTTP level, against a real daemon: the token and its cookie, the Host
 * allowlist, the Origin check, no CORS, input checked by the protocol's schemas, the event stream
 * resumed from Last-Event-ID, loopback only, and the daemon going away and coming back.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { startWebServer, type WebServer } from '../../src/web/server.js';
import { defaultTemplates } from '../../src/tasks/templates.js';
import { waitFor } from '../helpers.js';
import { CLI, inProcessDaemon, runCli, spawnDaemon, tempHome } from '../daemon/helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
}

function call(
  web: WebServer,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; host?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port: web.port,
        path,
        method: options.method ?? 'GET',
        headers: {
          Host: options.host ?? `127.0.0.1:${web.port}`,
          ...(options.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(options.body)) } : {}),
          ...options.headers,
        },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({ status: response.statusCode!, headers: response.headers, body, json });
        });
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

const cookieOf = (web: WebServer) => `taskwarden-web-${web.port}=${web.token}`;
const asPage = (web: WebServer, extra: Record<string, string> = {}) => ({
  Cookie: cookieOf(web),
  Origin: `http://127.0.0.1:${web.port}`,
  'Content-Type': 'application/json',
  ...extra,
});
const post = (web: WebServer, path: string, body: unknown, headers: Record<string, string> = asPage(web)) =>
  call(web, path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

async function webOnDaemon(): Promise<{ web: WebServer; home: string }> {
  const daemon = await inProcessDaemon(cleanups);
  const web = await startWebServer({
    home: daemon.home,
    port: 0,
    autostart: false,
    templates: await defaultTemplates(),
    log: () => {},
  });
  cleanups.push(() => web.close());
  return { web, home: daemon.home };
}

/** Starts a task through the page's own route and returns its id. */
async function startSyncLoop(web: WebServer): Promise<string> {
  const reply = await post(web, '/api/start', { template: 4 });
  expect(reply.status).toBe(200);
  return reply.json.task.id;
}

/** An event stream read message by message. */
class EventStream {
  readonly messages: Array<{ id: string; data: any }> = [];
  #request: http.ClientRequest;
  #buffer = '';

  constructor(web: WebServer, headers: Record<string, string> = {}) {
    this.#request = http.get(
      { host: '127.0.0.1', port: web.port, path: '/api/events', headers: { Cookie: cookieOf(web), ...headers } },
      (response) => {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => this.#onData(chunk));
      },
    );
    this.#request.on('error', () => {});
  }

  next(pred: (data: any) => boolean, what: string): Promise<{ id: string; data: any }> {
    return waitFor(() => this.messages.find((m) => pred(m.data)), 15_000, what);
  }

  close(): void {
    this.#request.destroy();
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf('\n\n')) >= 0) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const id = /^id: ([0-9a-f]+)-(\d+)$/m.exec(block);
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!id || data === undefined) continue;
      // One SSE message holds the messages of one server turn; the id numbers the last of them.
      const batch = JSON.parse(data) as unknown[];
      const first = Number(id[2]) - batch.length + 1;
      batch.forEach((message, k) => this.messages.push({ id: `${id[1]}-${first + k}`, data: message }));
    }
  }
}

describe('web server: who may talk to it', () => {
  it('needs the token for everything; the address with the token sets an HttpOnly SameSite=Strict cookie', async () => {
    const { web } = await webOnDaemon();
    for (const path of ['/', '/app.js', '/style.css', '/api/events', '/api/templates', '/api/session']) {
      const reply = await call(web, path);
      expect(reply.status, path).toBe(401);
    }
    expect((await call(web, '/?token=wrong')).status).toBe(401);
    expect(
      (await call(web, '/', { headers: { Cookie: `taskwarden-web-${web.port}=${web.token.slice(1)}x` } })).status,
    ).toBe(401);
    const opened = await call(web, `/?token=${web.token}`);
    expect(opened.status).toBe(303);
    expect(opened.headers.location).toBe('/');
    expect(opened.headers['set-cookie']?.[0]).toBe(
      `taskwarden-web-${web.port}=${web.token}; HttpOnly; SameSite=Strict; Path=/`,
    );
    const page = await call(web, '/', { headers: { Cookie: cookieOf(web) } });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script type="module" src="/app.js"></script>');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    // Only the page's own files: nothing else on disk is reachable.
    for (const path of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/server.js',
      '/assets/web/index.html',
      '/dist/src/web/page/app.js',
    ]) {
      expect((await call(web, path, { headers: { Cookie: cookieOf(web) } })).status, path).toBe(404);
    }
  });

  it('answers only to loopback Host names (any port: an SSH tunnel), never a rebinding name', async () => {
    const { web } = await webOnDaemon();
    const headers = { Cookie: cookieOf(web) };
    for (const host of [`127.0.0.1:${web.port}`, 'localhost:9999', `[::1]:${web.port}`, 'LOCALHOST']) {
      expect((await call(web, '/api/session', { headers, host })).status, host).toBe(200);
    }
    for (const host of [
      `evil.example:${web.port}`,
      `127.0.0.1.nip.io:${web.port}`,
      'localhost.evil.example',
      'localhost:80@evil.example',
    ]) {
      const reply = await call(web, '/api/session', { headers, host });
      expect(reply.status, host).toBe(403);
      expect(reply.json.error.code).toBe('HOST_NOT_ALLOWED');
    }
    // HTTP/1.0 may leave the Host out: refused too.
    const noHost = await new Promise<string>((resolve) => {
      const socket = net.connect(web.port, '127.0.0.1', () =>
        socket.end(`GET /api/session HTTP/1.0\r\nCookie: ${cookieOf(web)}\r\n\r\n`),
      );
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
    });
    expect(noHost).toMatch(/^HTTP\/1\.1 400 /);
    expect(noHost).toContain('NO_HOST');
    expect((await call(web, `/?token=${web.token}`, { host: `evil.example:${web.port}` })).body).toMatch(
      /DNS rebinding/,
    );
  });

  it('changes nothing for a foreign Origin or a cookie without any Origin; a script with the token in a header needs none', async () => {
    const { web } = await webOnDaemon();
    const id = await startSyncLoop(web);
    for (const origin of [
      'http://evil.example',
      'null',
      `http://127.0.0.1:${web.port + 1}`,
      `https://127.0.0.1:${web.port}`,
    ]) {
      const reply = await post(web, '/api/request', { type: 'TASK_KILL', taskId: id }, asPage(web, { Origin: origin }));
      expect(reply.status, origin).toBe(403);
      expect(reply.json.error.code).toBe('FOREIGN_ORIGIN');
    }
    const { Origin: _origin, ...noOrigin } = asPage(web);
    expect((await post(web, '/api/request', { type: 'TASK_KILL', taskId: id }, noOrigin)).json.error.code).toBe(
      'ORIGIN_REQUIRED',
    );
    // Still running: nothing above reached the daemon.
    const session = await call(web, '/api/session', { headers: { Cookie: cookieOf(web) } });
    expect(session.json.daemon.up).toBe(true);
    const script = await post(
      web,
      '/api/request',
      { type: 'GET', taskId: id },
      { Authorization: `Bearer ${web.token}`, 'Content-Type': 'application/json' },
    );
    expect(script.status).toBe(200);
    expect(script.json.task.state).not.toMatch(/killed|cancelled/);
    // No CORS: no Access-Control header on any answer, and a preflight is not answered with one.
    const preflight = await call(web, '/api/request', {
      method: 'OPTIONS',
      headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    expect(preflight.status).toBe(401);
    for (const reply of [preflight, script, session])
      expect(Object.keys(reply.headers).filter((h) => h.startsWith('access-control'))).toEqual([]);
  });
});

describe("web server: requests are the protocol's, checked by its schemas", () => {
  it("says what is wrong with a bad request, and refuses anything but the page's requests", async () => {
    const { web } = await webOnDaemon();
    const bad = async (body: unknown, status: number, pattern: RegExp, headers?: Record<string, string>) => {
      const reply = await post(web, '/api/request', body, headers ? asPage(web, headers) : undefined);
      expect(reply.status, JSON.stringify(body).slice(0, 60)).toBe(status);
      expect(`${reply.json.error.code}: ${reply.json.error.message}`).toMatch(pattern);
    };
    await bad('{"type": "TASK_KILL",', 400, /^BAD_JSON: the body is not valid JSON/);
    await bad({ type: 'TASK_KILL', taskId: '../../etc' }, 400, /^BAD_MESSAGE: TASK_KILL\.taskId: expected a task id/);
    await bad({ type: 'TASK_KILL' }, 400, /^BAD_MESSAGE: TASK_KILL\.taskId: required/);
    await bad({ type: 'LOGS', taskId: '1', tailBytes: -1 }, 400, /^BAD_MESSAGE: LOGS\.tailBytes/);
    await bad(
      { type: 'TASK_REQUEST', spec: { command: '/bin/sh' } },
      400,
      /^BAD_MESSAGE: type: expected one of TASK_CANCEL, .* got "TASK_REQUEST"/,
    );
    await bad({ type: 'SHUTDOWN' }, 400, /got "SHUTDOWN"/);
    await bad({ type: 'TASK_KILL', taskId: '4242' }, 404, /^UNKNOWN_TASK: no task 4242/);
    await bad({ type: 'STOP_ALL' }, 415, /^BAD_CONTENT_TYPE/, { 'Content-Type': 'text/plain' });
    await bad(JSON.stringify({ type: 'STOP_ALL', pad: 'x'.repeat(70_000) }), 413, /^TOO_LARGE/);
    const template = await post(web, '/api/start', { template: 99 });
    expect(template.status).toBe(400);
    expect(template.json.error.message).toMatch(
      /template: expected a template key \(1, 2, 3, 4, 5, 6, 7, 8, 9\), got 99/,
    );
    const method = await call(web, '/api/request', { method: 'PUT', headers: asPage(web) });
    expect(method.status).toBe(405);
  });

  it('pause and resume go through the daemon; a pause of a finished task is 409 NOT_PAUSABLE, naming its state', async () => {
    const { web } = await webOnDaemon();
    const id = await startSyncLoop(web);
    const state = async () => (await post(web, '/api/request', { type: 'GET', taskId: id })).json.task.state;
    await waitFor(async () => (await state()) === 'running', 20_000, 'the task to run');
    const pause = await post(web, '/api/request', { type: 'TASK_PAUSE', taskId: id });
    expect(pause.status).toBe(200);
    expect([pause.json.previous, pause.json.task.state]).toEqual(['running', 'paused']);
    const resumed = await post(web, '/api/request', { type: 'TASK_RESUME', taskId: id });
    expect([resumed.status, resumed.json.task.state]).toEqual([200, 'running']);
    expect((await post(web, '/api/request', { type: 'TASK_KILL', taskId: id })).status).toBe(200);
    await waitFor(async () => (await state()) === 'killed', 20_000, 'the task to be killed');
    const late = await post(web, '/api/request', { type: 'TASK_PAUSE', taskId: id });
    expect(late.status).toBe(409);
    expect(`${late.json.error.code}: ${late.json.error.message}`).toMatch(
      new RegExp(`^NOT_PAUSABLE: task ${id} is killed: only a running task can be paused`),
    );
  });
});

describe('web server: the event stream', () => {
  it('starts with a snapshot, and a reconnect with Last-Event-ID gets exactly what it missed', async () => {
    const { web } = await webOnDaemon();
    const first = new EventStream(web);
    cleanups.push(() => first.close());
    const snapshot = await first.next((d) => d.type === 'SNAPSHOT', 'the snapshot');
    expect(snapshot.data.daemon.up).toBe(true);
    const id = await startSyncLoop(web);
    const running = await first.next(
      (d) => d.type === 'TASK_STATUS' && d.task.id === id && d.task.state === 'running',
      'running',
    );
    first.close();

    // Missed while away: the kill and everything after it.
    expect((await post(web, '/api/request', { type: 'TASK_KILL', taskId: id })).status).toBe(200);
    const resumed = new EventStream(web, { 'Last-Event-ID': running.id });
    cleanups.push(() => resumed.close());
    await resumed.next((d) => d.type === 'TASK_COMPLETE' && d.task.id === id, 'the missed completion');
    expect(resumed.messages[0].data.type).not.toBe('SNAPSHOT');
    const seqs = resumed.messages.map((m) => Number(m.id.split('-')[1]));
    expect(seqs[0]).toBe(Number(running.id.split('-')[1]) + 1);
    expect(seqs).toEqual(seqs.map((_s, k) => seqs[0] + k));
    expect(resumed.messages.map((m) => m.data.type)).toContain('TASK_STATUS');

    // An id from another run of the server (or garbage) cannot be resumed: a fresh snapshot.
    const stale = new EventStream(web, { 'Last-Event-ID': '00000000-5' });
    cleanups.push(() => stale.close());
    const fresh = await stale.next(() => true, 'a first message');
    expect(fresh.data.type).toBe('SNAPSHOT');
    expect(fresh.data.tasks.find((t: { id: string }) => t.id === id).state).toBe('killed');
  });

  it('says when the daemon dies, refuses stops meanwhile with DAEMON_DOWN, and catches up with the next daemon', async () => {
    const { home, cleanup } = tempHome();
    cleanups.push(cleanup);
    const daemon = await spawnDaemon(home);
    cleanups.push(() => daemon.child.kill('SIGKILL'));
    const web = await startWebServer({
      home,
      port: 0,
      autostart: false,
      templates: await defaultTemplates(),
      log: () => {},
    });
    cleanups.push(() => web.close());
    const events = new EventStream(web);
    cleanups.push(() => events.close());
    await events.next((d) => d.type === 'SNAPSHOT' && d.daemon.up, 'the snapshot');
    const start = await post(web, '/api/request', { type: 'LIST' });
    expect(start.status).toBe(200);

    daemon.child.kill('SIGKILL');
    const down = await events.next((d) => d.type === 'DAEMON_STATE' && !d.daemon.up, 'the daemon down');
    expect(down.data.daemon.reason).toMatch(/closed/);
    const refused = await post(web, '/api/request', { type: 'STOP_ALL' });
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('DAEMON_DOWN');
    expect(refused.json.error.message).toMatch(/is not running .*start it with/);

    const next = await spawnDaemon(home);
    cleanups.push(() => next.child.kill('SIGKILL'));
    const back = await events.next(
      (d) => d.type === 'SNAPSHOT' && d.daemon.up && d.daemon.pid === next.child.pid,
      'the new daemon',
    );
    expect(back.data.daemon.pid).toBe(next.child.pid);
    expect((await post(web, '/api/request', { type: 'LIST' })).status).toBe(200);
  });
});

describe('web server: starting the daemon from the page', () => {
  it('POST /api/daemon/start starts one when none runs (as any command does); the page gets its snapshot', async () => {
    const { home, cleanup } = tempHome();
    cleanups.push(cleanup);
    const web = await startWebServer({ home, port: 0, autostart: false, log: () => {} });
    cleanups.push(() => web.close());
    const events = new EventStream(web);
    cleanups.push(() => events.close());
    await events.next((d) => d.type === 'SNAPSHOT' && !d.daemon.up, 'a snapshot without a daemon');
    expect((await post(web, '/api/request', { type: 'LIST' })).json.error.code).toBe('DAEMON_DOWN');

    const started = await post(web, '/api/daemon/start', {});
    cleanups.push(() => runCli(home, 'shutdown'));
    expect(started.status).toBe(200);
    expect(started.json.daemon.up).toBe(true);
    await events.next(
      (d) => d.type === 'SNAPSHOT' && d.daemon.up && d.daemon.pid === started.json.daemon.pid,
      "the new daemon's snapshot",
    );
    expect((await post(web, '/api/request', { type: 'LIST' })).status).toBe(200);
  });
});

describe('web server: where it listens', () => {
  it("binds 127.0.0.1 only: not reachable on the machine's other addresses", async () => {
    const { web } = await webOnDaemon();
    expect(web.host).toBe('127.0.0.1');
    expect(web.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${web.port}/\\?token=[A-Za-z0-9_-]{43}$`));
    const others = Object.values(os.networkInterfaces())
      .flat()
      .filter((i) => i && !i.internal && i.family === 'IPv4');
    for (const address of others) {
      const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        const request = http.get({ host: address!.address, port: web.port, path: '/' }, () => resolve(undefined));
        request.on('error', resolve);
      });
      expect(error?.code, address!.address).toBe('ECONNREFUSED');
    }
  });

  it('names the problem when the port is taken', async () => {
    const { web, home } = await webOnDaemon();
    await expect(startWebServer({ home, port: web.port, autostart: false, log: () => {} })).rejects.toThrow(
      `port ${web.port} on 127.0.0.1 is in use: choose another with --port N (--port 0 picks a free one)`,
    );
  });
});

describe('taskwarden web (the command)', () => {
  it('prints the address with its token and the SSH tunnel to use, serves until SIGTERM, and exits 0', async () => {
    const { home, cleanup } = tempHome();
    cleanups.push(cleanup);
    const daemon = await spawnDaemon(home);
    cleanups.push(() => daemon.child.kill('SIGKILL'));
    const child = spawn(process.execPath, [CLI, '--home', home, 'web', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = (await waitFor(
      () => /^ {2}(http:\/\/127\.0\.0\.1:(\d+)\/\?token=[A-Za-z0-9_-]{43})$/m.exec(out),
      20_000,
      'the address',
    ))!;
    const port = Number(url[2]);
    await waitFor(() => out.includes('Ctrl+C stops the page'), 20_000, 'the last line of the banner');
    expect(out).toContain(`taskwarden web: serving the tasks of ${home} at`);
    expect(out).toMatch(
      new RegExp(`ssh -L ${port}:127\\.0\\.0\\.1:${port} THIS-HOST, then open http://localhost:${port}/\\?token=`),
    );
    const opened = await new Promise<number>((resolve, reject) =>
      http.get(url[1], (response) => resolve(response.statusCode!)).on('error', reject),
    );
    expect(opened).toBe(303);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it("taskwarden daemon --web-port serves the page from the daemon's own process, as a client of its socket", async () => {
    const { home, cleanup } = tempHome();
    cleanups.push(cleanup);
    const daemon = await spawnDaemon(home, ['--web-port', '0']);
    cleanups.push(() => daemon.child.kill('SIGKILL'));
    const url = (await waitFor(
      () => /taskwarden web page: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]{43}))$/m.exec(daemon.output()),
      20_000,
      'the address in the log',
    ))!;
    const session = await new Promise<any>((resolve, reject) =>
      http
        .get(
          {
            host: '127.0.0.1',
            port: Number(url[2]),
            path: '/api/session',
            headers: { Authorization: `Bearer ${url[3]}` },
          },
          (response) => {
            let body = '';
            response.on('data', (chunk) => (body += chunk));
            response.on('end', () => resolve(JSON.parse(body)));
          },
        )
        .on('error', reject),
    );
    expect(session.daemon).toMatchObject({ up: true, pid: daemon.child.pid });
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });

  it('a bad --port, or --web-port for a background daemon, is one line and exit 2', async () => {
    const { home, cleanup } = tempHome();
    cleanups.push(cleanup);
    const result = await runCli(home, 'web', '--port', '70000');
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('taskwarden: --port must be an integer from 0 to 65535, got "70000"');
    const background = await runCli(home, 'daemon', '--web-port', '0');
    expect(background.code).toBe(2);
    expect(background.stderr.trim()).toBe(
      'taskwarden: --web-port needs --foreground (a background daemon has no terminal to print the page\'s address to); or run "taskwarden web"',
    );
  });
});
