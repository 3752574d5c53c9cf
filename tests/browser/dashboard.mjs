// Drives the live dashboard in headless Chromium for tests/browser.rs.
//
// Usage: node dashboard.mjs <base_url> <token> <screenshot_path>
//
// Protocol on stdout (one line each): `STEP …` progress, `READY` once the page is live (the Rust
// test then publishes a ticket that breaches at once), and finally `PASS` (exit 0) or
// `FAIL <reason>` (exit 1, with a screenshot at <screenshot_path minus .png>.fail.png).
// Diagnostics (the page's console and errors) go to stderr.

import { chromium, WAIT_MS, CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, say, step, tid, Failure, redact, bannerText, withSuffix, waitFor, run } from './common.mjs';

async function main() {
  const [baseArg, token, screenshot] = process.argv.slice(2);
  if (!baseArg || !token || !screenshot) {
    throw new Failure('usage: node dashboard.mjs <base_url> <token> <screenshot_path>');
  }
  const base = baseArg.replace(/\/+$/, '');
  const origin = new URL(base).origin;
  const pageErrors = [];
  const foreign = [];
  const consoleLines = [];

  step('launch chromium');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  let page;
  try {
    const context = await browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1 });
    page = await context.newPage();
    page.on('pageerror', (err) => {
      pageErrors.push(redact(err.message));
      process.stderr.write(`page error: ${redact(err.message)}\n`);
    });
    page.on('console', (msg) => {
      const line = redact(`console.${msg.type()}: ${msg.text()}`);
      consoleLines.push(line);
      if (msg.type() === 'error' || msg.type() === 'warning') process.stderr.write(line + '\n');
    });
    page.on('request', (req) => {
      const url = req.url();
      if (url.startsWith('data:') || url.startsWith('blob:')) return;
      // The page must not need the network beyond its own server (ws:// shares the origin's host).
      const u = new URL(url);
      const same = u.host === new URL(origin).host;
      if (!same) foreign.push(url);
    });

    step('open the dashboard with ?token=');
    await page.goto(`${base}/?token=${encodeURIComponent(token)}`, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
    const status = page.locator(tid('conn-status'));

    step('wait for conn-status "live"');
    let lastBanner = '';
    await waitFor('conn-status "live"', async () => {
      if (await page.locator(tid('error-banner')).isVisible()) {
        const text = await bannerText(page);
        if (text !== lastBanner) process.stderr.write(`banner while connecting: ${redact(text)}\n`);
        lastBanner = text;
      }
      if (await page.locator(tid('login-token')).isVisible()) {
        throw new Failure('the page shows the login form: the token was not accepted');
      }
      return (await status.textContent()) === 'live';
    });
    if (new URL(page.url()).searchParams.has('token')) throw new Failure('the token is still in the address bar');
    say('READY');

    step('wait for kpi-open >= 1');
    await waitFor('kpi-open to show a number >= 1', async () => {
      const text = (await page.locator(tid('kpi-open')).textContent()) || '';
      const n = Number(text.replace(/[^\d]/g, ''));
      return /\d/.test(text) && n >= 1;
    });
    step(`kpi-open is ${(await page.locator(tid('kpi-open')).textContent()).trim()}`);

    step('wait for a firing alert');
    const firing = `${tid('alert-row')}[data-state="firing"]`;
    let alertId = null;
    // A firing row may leave the list before the click lands (a warning retracted by its breach,
    // say): then take the next firing one.
    for (let attempt = 1; attempt <= 5 && alertId === null; attempt++) {
      const row = page.locator(firing).first();
      await waitFor('an alert-row with data-state="firing"', async () => (await page.locator(firing).count()) > 0);
      const id = await row.getAttribute('data-alert-id');
      if (!id) throw new Failure('a firing alert-row has no data-alert-id');
      step(`acknowledge alert ${id}`);
      const exact = page.locator(`${tid('alert-row')}[data-alert-id="${id.replace(/["\\]/g, '\\$&')}"]`);
      try {
        await exact.locator(tid('ack-button')).click({ timeout: 10_000 });
      } catch (err) {
        if ((await exact.count()) === 0) {
          step(`alert ${id} left the list before the click; trying another`);
          continue;
        }
        throw new Failure(`clicking ack-button of ${id} failed: ${err.message.split('\n')[0]}`);
      }
      step(`wait for alert ${id} to be acknowledged`);
      await waitFor(`alert ${id} to show data-state="acknowledged"`, async () => {
        if ((await exact.count()) === 0) throw new Error(`alert ${id} left the list`);
        return (await exact.getAttribute('data-state')) === 'acknowledged';
      });
      const acked = (await exact.textContent()) || '';
      if (!/acknowledged by/.test(acked)) throw new Failure(`alert ${id} does not say who acknowledged it`);
      if ((await exact.locator(tid('ack-button')).count()) > 0 && (await exact.locator(tid('ack-button')).isVisible())) {
        throw new Failure(`alert ${id} still shows its Acknowledge button`);
      }
      alertId = id;
    }
    if (alertId === null) throw new Failure('no firing alert stayed long enough to be acknowledged');

    step('check the trend chart and the tickets list');
    await waitFor('the trend chart to draw', async () => (await page.locator(`${tid('trend-chart')} canvas`).count()) > 0);
    await waitFor('a ticket-row', async () => (await page.locator(tid('ticket-row')).count()) > 0);

    step('desktop screenshot 1280x900');
    await page.setViewportSize(DESKTOP);
    await page.waitForTimeout(300);
    await page.screenshot({ path: screenshot, fullPage: true });

    step('phone viewport 390x844');
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(500);
    const widths = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    await page.screenshot({ path: withSuffix(screenshot, '.phone'), fullPage: true });
    if (widths.scroll > PHONE.width + 1) {
      throw new Failure(`horizontal scroll at phone width: scrollWidth ${widths.scroll} > ${PHONE.width}`);
    }

    if (pageErrors.length > 0) throw new Failure(`the page threw: ${pageErrors[0]}`);
    if (foreign.length > 0) throw new Failure(`the page requested another origin: ${foreign[0]}`);
    say('PASS');
  } catch (err) {
    if (page) {
      try {
        await page.screenshot({ path: withSuffix(screenshot, '.fail'), fullPage: true });
        process.stderr.write(`failure screenshot: ${withSuffix(screenshot, '.fail')}\n`);
      } catch (shotErr) {
        process.stderr.write(`no failure screenshot: ${shotErr.message}\n`);
      }
      try {
        if (await page.locator(tid('error-banner')).isVisible()) process.stderr.write(`error banner: ${redact(await bannerText(page))}\n`);
        process.stderr.write(`conn-status: ${await page.locator(tid('conn-status')).textContent()}\n`);
      } catch (_) {
        /* the page is gone */
      }
      for (const line of consoleLines.slice(-30)) process.stderr.write(line + '\n');
    }
    throw err;
  } finally {
    await browser.close().catch(() => {});
  }
}

run(main);
