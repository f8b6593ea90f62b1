/**
 * A Unix-socket proxy in front of Redis that can be cut: while cut, nothing passes either way and
 * no connection closes (as when a network path goes silent); mended, everything flows again.
 */
import net from 'node:net';

export interface CuttableProxy {
  readonly url: string;
  cut(): void;
  mend(): void;
  close(): Promise<void>;
}

export async function startProxy(listenPath: string, redisSocket: string): Promise<CuttableProxy> {
  const held: Array<{ to: net.Socket; data: Buffer }> = [];
  const sockets = new Set<net.Socket>();
  let cut = false;
  // While cut, what arrives is held (in order), not lost: mended, it goes on as after a long stall.
  const forward = (from: net.Socket, to: net.Socket) =>
    from.on('data', (data) => (cut ? held.push({ to, data }) : to.write(data)));
  const server = net.createServer((client) => {
    const upstream = net.connect(redisSocket);
    for (const socket of [client, upstream]) sockets.add(socket);
    forward(client, upstream);
    forward(upstream, client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) socket.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(listenPath, resolve));
  return {
    url: `unix://${listenPath}`,
    cut() {
      cut = true;
    },
    mend() {
      cut = false;
      for (const { to, data } of held.splice(0)) if (!to.destroyed) to.write(data);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
