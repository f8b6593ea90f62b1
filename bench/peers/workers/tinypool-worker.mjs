// tinypool task (runtime 'child_process'): an abort ends the worker with SIGTERM (SIGKILL 1 s later),
// so a cooperative task cleans up in a SIGTERM handler and exits.
import { behave } from './behaviours.mjs';

export default function task(input) {
  return behave(input, (cb) => process.once('SIGTERM', () => void cb().then(() => process.exit(0))));
}
