// What the browser scripts share: reading their environment, failing with one line, the
// expectation they throw, and starting Debian's Chromium through playwright-core.

export const STEP_TIMEOUT_MS = 30_000;
export const PHASE_TIMEOUT_MS = 90_000;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/// Ends the script at once with one line on standard error and a non-zero exit.
export function fail(message) {
  process.stderr.write(`e2e FAILED: ${message}\n`);
  process.exit(1);
}

export function env(name) {
  const value = process.env[name];
  if (!value) fail(`environment variable ${name} is not set`);
  return value;
}

/// A failed expectation: its message is the whole report.
export class Expectation extends Error {}

export function expect(condition, message) {
  if (!condition) throw new Expectation(message);
}

/// Chromium, headless and kept off the network; the script fails if it cannot start.
export async function launch() {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    fail(`playwright-core is not installed (${e.code || e.message}); run scripts/test or npm ci --prefix tests/e2e`);
  }
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      timeout: STEP_TIMEOUT_MS,
    });
  } catch (e) {
    fail(`cannot start ${CHROMIUM} (${e.message.split('\n')[0]}); run scripts/test, which installs Debian's chromium`);
  }
}
