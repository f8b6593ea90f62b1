/** The README's example runs as written. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

describe('README example', () => {
  it('examples/quickstart.mjs completes the tiles task and cancels the stuck job', async () => {
    const script = fileURLToPath(new URL('../examples/quickstart.mjs', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
    expect(stdout).toContain('tiles 100% tile 50/50');
    expect(stdout).toMatch(/tiles finished: \{\s*state: 'completed'/);
    expect(stdout).toMatch(/result: \{ sum: 1275 \}/);
    expect(stdout).toMatch(/job: \{\s*state: 'cancelled'/);
  });
});
