// `npm run test:stress`: the whole suite while CPU hogs at normal priority (as many as cores, plus one)
// keep the machine busy, as CI's machine or a user's may be. The hogs end with this script, however it ends.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

const count = Number(process.env.STRESS_HOGS ?? availableParallelism() + 1);
const hogs = Array.from({ length: count }, () =>
  spawn('/bin/sh', ['-c', 'while :; do :; done'], { stdio: 'ignore', detached: true }),
);
const stopHogs = () => {
  for (const hog of hogs) {
    try {
      process.kill(-hog.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};
process.on('exit', stopHogs);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => process.exit(130));

// And with the fallback containment: `npm test` runs every task in a cgroup where the machine
// allows it, this run holds the process-group backend to the same suite (tests that are about
// cgroups ask for them explicitly). STRESS_CGROUPS=auto keeps cgroups here too.
const cgroups = process.env.STRESS_CGROUPS === 'auto' ? {} : { TASKWARDEN_CGROUPS: 'off' };
console.log(
  `test:stress: ${count} CPU hogs at normal priority beside the suite${cgroups.TASKWARDEN_CGROUPS ? ', process-group containment (TASKWARDEN_CGROUPS=off)' : ''}`,
);
const suite = spawn('npx', ['vitest', 'run', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, ...cgroups },
});
suite.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
