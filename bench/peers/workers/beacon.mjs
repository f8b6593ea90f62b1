// The side channel every contender's task uses to say "my code is running" (with its own
// timestamp, pid and thread) and "my cleanup is done", the same way for every contender.
// One unix-socket connection per task, opened once; a message waits only for its write.
import net from 'node:net';
import { threadId } from 'node:worker_threads';

export const nowEpochMs = () => performance.timeOrigin + performance.now();

export function openBeacon(address, tag) {
  const socket = net.connect(address);
  socket.on('error', () => {});
  socket.unref();
  const connected = new Promise((resolve) => socket.once('connect', resolve));
  return {
    /** Resolves once the line is written (the task may then block or exit). */
    async send(message) {
      await connected;
      await new Promise((resolve) =>
        socket.write(`${JSON.stringify({ tag, pid: process.pid, threadId, ...message })}\n`, resolve),
      );
    },
    close() {
      socket.destroy();
    },
  };
}
