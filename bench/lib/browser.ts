/** Debian's Chromium, headless, driven by puppeteer-core: for the web page's tests and benchmarks alike. */
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

const DEBIAN_CHROMIUM = '/usr/lib/chromium/chromium';

/** The real binary (Debian's /usr/bin wrapper misbehaves headless); npm test installs it (scripts/ensure-chromium.mjs). */
export function chromiumPath(): string {
  const path = process.env.TASKWARDEN_CHROMIUM || DEBIAN_CHROMIUM;
  if (!existsSync(path))
    throw new Error(
      `Chromium is missing at ${path}: run "node scripts/ensure-chromium.mjs" (npm test does) or "apt-get install chromium"`,
    );
  return path;
}

/** Headless; `args` adds flags (e.g. --host-resolver-rules). */
export function launchChromium(args: string[] = []): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // As root Chromium needs --no-sandbox; /dev/shm may be small in a VM or container.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', ...args],
    protocolTimeout: 120_000,
  });
}
