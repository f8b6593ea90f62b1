/**
 * Who may talk to the web server, checked on every request before anything else runs, because a
 * page that can kill tasks must not be reachable by any other page the user has open:
 *  - Host allowlist: the name the browser used must be a loopback name (or one the user named),
 *    so a DNS-rebinding page (evil.example resolving to 127.0.0.1) is refused;
 *  - a random token, printed once in the address, then kept in an HttpOnly SameSite=Strict cookie
 *    (like Jupyter), required for every request, the event stream and the static files included;
 *  - an Origin check on every state-changing request: a request the browser made for another site
 *    is refused even though the browser would attach the cookie;
 *  - no CORS headers ever, and a Content-Security-Policy that allows only the server's own scripts.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Names that always reach only this machine. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export interface Refusal {
  status: number;
  code: string;
  message: string;
}

export interface GateOptions {
  /** The address the server is bound to (it is allowed as a Host name too). */
  bindHost: string;
  /** More Host names to accept (e.g. a name the machine is reached by through a proxy). */
  allowHosts?: readonly string[];
  /** Default: 32 random bytes, base64url. */
  token?: string;
  port: number;
}

export class Gate {
  readonly token: string;
  /** Per port: cookies are shared by every port of a host, and two servers must not overwrite each other's. */
  readonly cookieName: string;
  readonly #tokenBytes: Buffer;
  readonly #allowedHosts: ReadonlySet<string>;

  constructor(options: GateOptions) {
    this.token = options.token ?? randomBytes(32).toString('base64url');
    this.#tokenBytes = Buffer.from(this.token);
    this.cookieName = `taskwarden-web-${options.port}`;
    const bind =
      options.bindHost.includes(':') && !options.bindHost.startsWith('[') ? `[${options.bindHost}]` : options.bindHost;
    this.#allowedHosts = new Set(
      [...LOOPBACK_NAMES, bind, ...(options.allowHosts ?? [])].map((name) => name.toLowerCase()),
    );
  }

  /** The Host header must name this machine by an allowed name; the port may differ (an SSH tunnel's local port). */
  checkHost(request: IncomingMessage): Refusal | undefined {
    const host = request.headers.host;
    if (!host) return { status: 400, code: 'NO_HOST', message: 'the request has no Host header' };
    const name = hostName(host);
    if (name !== undefined && this.#allowedHosts.has(name)) return undefined;
    return {
      status: 403,
      code: 'HOST_NOT_ALLOWED',
      message:
        `the Host ${JSON.stringify(host.slice(0, 100))} is not allowed (protection against DNS rebinding): open the page as http://127.0.0.1:PORT or http://localhost:PORT, ` +
        'or start "taskwarden web" with --allow-host NAME for a name you trust',
    };
  }

  /** The token from the cookie, the Authorization header (scripts), or undefined. */
  presentedToken(request: IncomingMessage): { token: string; via: 'cookie' | 'header' } | undefined {
    const auth = request.headers.authorization;
    if (auth?.startsWith('Bearer ')) return { token: auth.slice('Bearer '.length).trim(), via: 'header' };
    const cookie = readCookie(request.headers.cookie, this.cookieName);
    return cookie === undefined ? undefined : { token: cookie, via: 'cookie' };
  }

  isToken(candidate: string | undefined | null): boolean {
    if (typeof candidate !== 'string') return false;
    const bytes = Buffer.from(candidate);
    return bytes.length === this.#tokenBytes.length && timingSafeEqual(bytes, this.#tokenBytes);
  }

  checkToken(request: IncomingMessage): Refusal | undefined {
    const presented = this.presentedToken(request);
    if (presented && this.isToken(presented.token)) return undefined;
    return {
      status: 401,
      code: 'NO_TOKEN',
      message: presented
        ? 'the access token is not valid (the web server was restarted?): open the address "taskwarden web" printed, with its ?token=...'
        : 'no access token: open the address "taskwarden web" printed (it carries ?token=...); the page keeps the token in a cookie',
    };
  }

  addressTokenRefusal(): Refusal {
    return {
      status: 401,
      code: 'BAD_TOKEN',
      message:
        'the token in this address is not valid (the web server was restarted?): open the address "taskwarden web" printed last',
    };
  }

  /**
   * A state-changing request must come from this page: its Origin must be the origin the request
   * was addressed to. A script with the token in an Authorization header (not a browser: browsers
   * never add that header on their own) may send no Origin at all.
   */
  checkOrigin(request: IncomingMessage): Refusal | undefined {
    const origin = request.headers.origin;
    const host = request.headers.host ?? '';
    if (origin === undefined) {
      if (this.presentedToken(request)?.via === 'header' && request.headers['sec-fetch-site'] === undefined)
        return undefined;
      return {
        status: 403,
        code: 'ORIGIN_REQUIRED',
        message: 'a state-changing request must carry an Origin header (browsers send one): refused',
      };
    }
    if (origin === `http://${host}`) return undefined;
    return {
      status: 403,
      code: 'FOREIGN_ORIGIN',
      message: `a request from the origin ${JSON.stringify(origin.slice(0, 100))} may not change anything here (only the page itself, http://${host.slice(0, 100)}, may): refused`,
    };
  }

  /** Set once the token came in the address: from then on the browser proves itself with the cookie. */
  cookieHeader(): string {
    return `${this.cookieName}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
  }
}

/** Headers on every response: no framing, no sniffing, no referrer carrying the address, no caching, only our own scripts. */
export function setSecurityHeaders(response: ServerResponse): void {
  response.setHeader(
    'Content-Security-Policy',
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  );
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cache-Control', 'no-store');
  response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

/** "localhost:8787" -> "localhost", "[::1]:8787" -> "[::1]"; undefined for something that is not a host. */
export function hostName(host: string): string | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/.exec(host.trim());
  return match ? match[1]!.toLowerCase() : undefined;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
