/**
 * Reaching the daemon's Unix socket from a client: only a socket the current user owns, a
 * connect that gives up after a timeout, and which failures mean that no daemon runs.
 */
import { lstatSync } from 'node:fs';
import net from 'node:net';

/**
 * Requests carry arguments, working directories and environments: they go only
 * to a socket the current user owns (the daemon creates it 0600), never to one
 * someone else put there. No socket at all is left to connect() (ENOENT: no daemon).
 */
export function checkSocketOwner(path: string): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const me = process.geteuid?.();
  if (!stat.isSocket()) {
    throw new Error(
      `refusing to connect to ${path}: it is not a socket${stat.isSymbolicLink() ? ' but a symlink' : ''}; remove it, or use another state directory (--home)`,
    );
  }
  if (me !== undefined && stat.uid !== me) {
    throw new Error(
      `refusing to connect to ${path}: the socket is owned by uid ${stat.uid}, not by you (uid ${me}), so it is not your daemon; ` +
        'remove it, or use another state directory (--home)',
    );
  }
}

export function connectSocket(path: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to the taskwarden daemon at ${path} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    // Stays registered (a no-op once connected) so an early error is never unhandled; the client adds its own.
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** No socket, or a socket nobody listens on (a dead daemon's): start one. */
export function isNoDaemon(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}
