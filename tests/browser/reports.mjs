// Drives the dashboard's Reports panel in headless Chromium for tests/browser.rs, as a tenant
// manager: asks for last week's report as CSV, follows its progress bar to 100%, downloads the
// file and checks it is the report (its header, and as many tickets opened as the Rust test
// published). A client_user does not see the panel.
//
// Usage: node reports.mjs <base_url> <manager_token> <screenshot_path> <user_token> <opened>
//
// Protocol on stdout (one line each): `STEP …` progress, then `PASS` (exit 0) or
// `FAIL <reason>` (exit 1, with a screenshot at <screenshot_path minus .png>.fail.png).

import { readFile } from 'node:fs/promises';
import { chromium, WAIT_MS, CHROMIUM, CHROMIUM_ARGS, DESKTOP, say, step, tid, Failure, redact, withSuffix, waitFor, run } from './common.mjs';

async function main() {
  const [baseArg, token, screenshot, userToken, opened] = process.argv.slice(2);
  if (!baseArg || !token || !screenshot || !userToken || !opened) {
    throw new Failure('usage: node reports.mjs <base_url> <manager_token> <screenshot_path> <user_token> <opened>');
  }
  const base = baseArg.replace(/\/+$/, '');
  const pageErrors = [];
  step('launch chromium');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  let page;
  try {
    const context = await browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1, acceptDownloads: true });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(redact(err.message)));

    step('open the dashboard as a manager');
    await page.goto(`${base}/?token=${encodeURIComponent(token)}`, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
    await waitFor('the reports panel', async () => page.locator(tid('reports-panel')).isVisible());
    await page.locator(tid('report-period')).selectOption('week');
    await page.locator(tid('report-format')).selectOption('csv');
    step('generate');
    await page.locator(tid('report-generate')).click();
    const bar = page.locator(tid('report-progress'));
    await waitFor('the progress bar', async () => bar.isVisible());
    const download = page.locator(tid('report-download'));
    await waitFor('the report to be ready', async () => download.isVisible());
    const percent = await bar.evaluate((node) => node.value);
    if (percent !== 100) throw new Failure(`the progress bar reads ${percent}, not 100`);
    const status = ((await page.locator(tid('report-status')).textContent()) || '').trim();
    step(`status: ${status}`);
    if (!status.startsWith('Ready')) throw new Failure(`the status reads ${status}`);
    await page.screenshot({ path: screenshot, fullPage: true });
    step('download');
    const [file] = await Promise.all([page.waitForEvent('download', { timeout: WAIT_MS }), download.click()]);
    const name = file.suggestedFilename();
    step(`saved ${name}`);
    if (!name.startsWith('sla-report-') || !name.endsWith('.csv')) throw new Failure(`the file is named ${name}`);
    const path = await file.path();
    const text = await readFile(path, 'utf8');
    if (!text.startsWith('section,key,opened')) throw new Failure(`the file is not the report: ${text.slice(0, 80)}`);
    const current = text.split('\r\n').find((line) => line.startsWith('summary,current,'));
    if (!current || current.split(',')[2] !== opened) throw new Failure(`the summary line is ${current}; expected ${opened} opened`);
    if (pageErrors.length > 0) throw new Failure(`the page threw: ${pageErrors[0]}`);

    step('a reader does not see the panel');
    const reader = await browser.newPage({ viewport: DESKTOP });
    await reader.goto(`${base}/?token=${encodeURIComponent(userToken)}`, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
    await waitFor('the live figures', async () => ((await reader.locator(tid('conn-status')).textContent()) || '').trim().toLowerCase() === 'live');
    if (await reader.locator(tid('reports-panel')).isVisible()) throw new Failure('a client_user sees the reports panel');
    say('PASS');
  } catch (err) {
    if (page) {
      try {
        await page.screenshot({ path: withSuffix(screenshot, '.fail'), fullPage: true });
      } catch (_) {
        /* the page is gone */
      }
    }
    throw err;
  } finally {
    await browser.close().catch(() => {});
  }
}

run(main);
