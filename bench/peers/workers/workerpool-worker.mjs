// workerpool worker (workerType 'process'): cooperative cancel via this.worker.addAbortListener.
import workerpool from 'workerpool';
import { behave } from './behaviours.mjs';

workerpool.worker({
  task(input) {
    const api = this.worker;
    return behave(input, (cb) => api.addAbortListener(cb));
  },
});
