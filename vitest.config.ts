import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: tests spawn real process groups; keep parallelism low so time bounds stay honest.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
