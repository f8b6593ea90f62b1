import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // Installs redis-server for the cluster tests where it is missing (or says how, in one line).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: tests spawn real process groups; keep parallelism low so time bounds stay honest.
    maxWorkers: 2,
    reporters: ['default'],
    // The suite tests semantics, not the scheduler: on a machine kept busy by other work (npm run
    // test:stress) tasks at the default 'idle' priority would barely run. Tests of the priority
    // itself set it explicitly; the scheduling promises are measured by npm run bench -- load.
    env: { TASKWARDEN_PRIORITY: 'normal' },
  },
});
