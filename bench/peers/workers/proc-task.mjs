// One task per process, for bare child_process.fork and execaNode (both open an IPC channel):
// argv[2] is the JSON input, the result goes back as one IPC message.
// Cooperative cancel: SIGTERM (bare fork: child.kill()), or execa's getCancelSignal() when
// input.execaGraceful is set (execa's gracefulCancel option).
import { behave } from './behaviours.mjs';

const input = JSON.parse(process.argv[2]);
const onCancel = async (cb) => {
  if (input.execaGraceful) {
    const { getCancelSignal } = await import('execa');
    const signal = await getCancelSignal();
    signal.addEventListener('abort', () => void cb().then(() => process.exit(0)), { once: true });
  } else {
    process.once('SIGTERM', () => void cb().then(() => process.exit(0)));
  }
};
const result = await behave(input, onCancel);
if (process.send) process.send(result, () => process.exit(0));
else process.exit(0);
