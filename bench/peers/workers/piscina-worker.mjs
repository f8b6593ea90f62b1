// piscina task (worker thread). An abort terminates the thread: there is no cooperative path,
// the cleanup below never runs.
import { behave } from './behaviours.mjs';

export default function task(input) {
  return behave(input, () => {});
}
