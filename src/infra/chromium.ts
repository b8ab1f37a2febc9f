// Headless Chromium for the live viewer's end-to-end test: Debian's `chromium` package, installed through
// apt like the other test infrastructure (never a browser download by Playwright), driven by playwright-core.
import { ensureDebianPackages, run } from './process.ts';

/** Where Debian installs the browser. */
export const chromiumPath = '/usr/bin/chromium';

/** The flags the tests run Chromium with: headless, no sandbox (root in CI), nothing phoning home. */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/** Installs Debian's chromium when it is missing; returns its path and version. */
export async function ensureChromium(): Promise<{ executablePath: string; version: string }> {
  await ensureDebianPackages([{ binary: 'chromium', packages: ['chromium'] }]);
  const version = await run(chromiumPath, ['--version']);
  return { executablePath: chromiumPath, version: version.trim() };
}
