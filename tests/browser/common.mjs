// Helpers the browser drivers share (dashboard.mjs, settings.mjs): launching Debian's Chromium,
// the stdout protocol (`STEP …`, then `PASS` or `FAIL <reason>`), waiting, and keeping tokens
// out of logs.

export { chromium } from 'playwright-core';

export const WAIT_MS = 60_000;
export const WATCHDOG_MS = 5 * 60_000;
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

export const say = (line) => process.stdout.write(line + '\n');
export const step = (what) => say('STEP ' + what);
export const tid = (id) => `[data-testid="${id}"]`;

export class Failure extends Error {}

/** Keeps tokens out of CI logs (the page's WebSocket URL carries one). */
export function redact(text) {
  return String(text).replace(/token=[^&\s'"]+/g, 'token=<redacted>').replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '<jwt>');
}

/** The banner's message on one line, without its dismiss button. */
export async function bannerText(page) {
  const text = (await page.locator(tid('error-banner')).textContent()) || '';
  return text.replace(/\s+/g, ' ').replace(/\s*×\s*$/, '').trim();
}

export function withSuffix(path, suffix) {
  return /\.png$/i.test(path) ? path.replace(/\.png$/i, suffix + '.png') : path + suffix + '.png';
}

/** Polls `check` (async, returns a truthy value when done) until `ms` pass; then fails with `what`. */
export async function waitFor(what, check, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      if (err instanceof Failure) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Failure(`timed out after ${ms / 1000}s waiting for ${what}` + (last ? ` (${last.message.split('\n')[0]})` : ''));
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs `main` under a watchdog; says `FAIL <reason>` and exits 1 when it throws. */
export function run(main) {
  const watchdog = setTimeout(() => {
    say('FAIL the driver ran longer than ' + WATCHDOG_MS / 1000 + 's');
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();

  main().then(
    () => {
      clearTimeout(watchdog);
      process.exitCode = 0;
    },
    (err) => {
      clearTimeout(watchdog);
      say('FAIL ' + redact(String((err && err.message) || err).split('\n')[0]));
      process.exitCode = 1;
    },
  );
}
