import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vitest/config';

const root = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.join(root, 'src') + path.sep;
const buildDir = path.join(root, 'dist');

/**
 * When the last `tsc -b` finished: it writes its .tsbuildinfo files on every build, but leaves an
 * output file alone when its content would not change (a source only reformatted), so an output
 * older than its source is stale only if the source is also newer than the build.
 */
function lastBuildMs(): number {
  if (!existsSync(buildDir)) return 0;
  const infos = readdirSync(buildDir).filter((name) => name.endsWith('.tsbuildinfo'));
  return Math.max(0, ...infos.map((name) => statSync(path.join(buildDir, name)).mtimeMs));
}

/**
 * Tests import the code by its source path (`../../src/supervisor/supervisor.js`), so the type checker
 * and the editor see the source, and this resolves every such import to the build (`dist/src/...`):
 * the same files the runner hosts, daemons and CLIs that the tests spawn run, and one copy of each
 * module per test process, whichever file imported it. `npm test` builds first; a stale or missing
 * build is an error here rather than a test of old code.
 */
function sourceToBuild(): Plugin {
  const builtAt = lastBuildMs();
  return {
    name: 'taskwarden:source-to-build',
    enforce: 'pre',
    resolveId(source, importer) {
      if (importer === undefined || !source.startsWith('.')) return null;
      const target = path.resolve(path.dirname(importer), source);
      if (!target.startsWith(sourceDir) || !target.endsWith('.js')) return null;
      const built = path.join(buildDir, path.relative(root, target));
      const sourceFile = [target.replace(/\.js$/, '.ts'), target.replace(/\.js$/, '.tsx')].find((file) =>
        existsSync(file),
      );
      if (!existsSync(built)) {
        throw new Error(
          `${path.relative(root, importer)} imports ${source}, but ${path.relative(root, built)} is not built: run npm run build (npm test builds first)`,
        );
      }
      const sourceMs = sourceFile === undefined ? 0 : statSync(sourceFile).mtimeMs;
      if (sourceFile !== undefined && sourceMs > statSync(built).mtimeMs && sourceMs > builtAt) {
        throw new Error(
          `${path.relative(root, built)} is older than ${path.relative(root, sourceFile)}: run npm run build (npm test builds first)`,
        );
      }
      return built;
    },
  };
}

export default defineConfig({
  plugins: [sourceToBuild()],
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
