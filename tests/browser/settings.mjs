// Drives the dashboard's Settings panel in headless Chromium for tests/browser.rs, as a tenant
// admin: a bad target is refused with the error next to its field, a good one is saved (45 min
// for HIGH response), a second one (50) too, and rolling back to the first version brings 45
// back; the history shows the three versions. Then an on-call contact is added: a bad phone is
// refused next to it, a good one saved. Then, as ops (same tenant): the flags show their rollout
// in words (the Rust test set ws.tickets to 25% + tenant 9 + user carol), notify.retractions is
// switched off on the page, and the audit lists that change.
//
// Usage: node settings.mjs <base_url> <admin_token> <screenshot_path> <ops_token>
//
// Protocol on stdout (one line each): `STEP …` progress, then `PASS` (exit 0; the Rust test then
// checks that a ticket created afterwards gets the 45-minute target) or `FAIL <reason>` (exit 1,
// with a screenshot at <screenshot_path minus .png>.fail.png). Diagnostics go to stderr.

import { chromium, WAIT_MS, CHROMIUM, CHROMIUM_ARGS, DESKTOP, say, step, tid, Failure, redact, withSuffix, waitFor, run } from './common.mjs';

async function main() {
  const [baseArg, token, screenshot, opsToken] = process.argv.slice(2);
  if (!baseArg || !token || !screenshot || !opsToken) {
    throw new Failure('usage: node settings.mjs <base_url> <admin_token> <screenshot_path> <ops_token>');
  }
  const base = baseArg.replace(/\/+$/, '');
  const pageErrors = [];
  const consoleLines = [];

  step('launch chromium');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  let page;
  try {
    const context = await browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1 });
    page = await context.newPage();
    page.on('pageerror', (err) => {
      pageErrors.push(redact(err.message));
      process.stderr.write(`page error: ${redact(err.message)}\n`);
    });
    page.on('console', (msg) => consoleLines.push(redact(`console.${msg.type()}: ${msg.text()}`)));

    step('open the dashboard with ?token=');
    await page.goto(`${base}/?token=${encodeURIComponent(token)}`, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
    step('open the settings panel');
    await waitFor('the settings panel', async () => page.locator(tid('settings-panel')).isVisible());
    await page.locator(tid('settings-toggle')).click();
    await waitFor('the settings to load', async () => (await page.locator('#settings-body[data-loaded="true"]').count()) > 0);
    const high = page.locator(tid('target-HIGH-response'));
    const before = await high.inputValue();
    step(`HIGH response reads ${before}`);
    if (!before) throw new Failure('the HIGH response target is empty');

    const save = async (value, reason) => {
      await high.fill(value);
      await page.locator(tid('reason')).fill(reason);
      await page.locator(tid('settings-save')).click();
    };
    step('a bad target is refused next to its field');
    await save('soon', 'try a bad value');
    const fieldError = page.locator('[data-error="targets:HIGH.response"]');
    await waitFor('an error next to HIGH response', async () => (await fieldError.isVisible()) && ((await fieldError.textContent()) || '').length > 0);
    step(`the field says: ${(await fieldError.textContent()).trim()}`);
    const history = page.locator(`${tid('history-list')} li[data-version]`);
    if ((await history.count()) !== 0) throw new Failure('the refused change shows in the history');

    step('save 45 minutes');
    await save('45', 'contract amendment 3');
    await waitFor('version 1 in the history', async () => (await history.count()) === 1);
    await waitFor('the saved notice', async () => page.locator(tid('settings-ok')).isVisible());
    if ((await fieldError.isVisible())) throw new Failure('the field error stayed after a good save');

    step('save 50 minutes, then roll back to version 1');
    await save('50', 'trying 50');
    await waitFor('version 2 in the history', async () => (await history.count()) === 2);
    if ((await high.inputValue()) !== '50') throw new Failure(`after saving 50 the field reads ${await high.inputValue()}`);
    await page.locator(tid('reason')).fill('50 was too tight');
    await page.locator(tid('rollback-1')).click();
    await waitFor('version 3 in the history', async () => (await history.count()) === 3);
    await waitFor('45 back in the field', async () => (await high.inputValue()) === '45');
    const newest = (await history.first().textContent()) || '';
    if (!/rollback to v1/.test(newest)) throw new Failure(`the newest version does not say it rolled back: ${newest}`);

    step('add an on-call contact: a bad phone is refused at its field, a good one saved');
    await page.locator(tid('contact-add')).click();
    await page.locator(tid('contact-0-id')).fill('oncall-7');
    await page.locator(tid('contact-0-phone')).fill('12345');
    await page.locator(tid('contacts-reason')).fill('new on-call engineer');
    await page.locator(tid('contacts-save')).click();
    const phoneError = page.locator('#contacts-rows tr:first-child [data-error-field="phone"]');
    await waitFor('an error next to the phone', async () => (await phoneError.isVisible()) && ((await phoneError.textContent()) || '').length > 0);
    step(`the phone field says: ${(await phoneError.textContent()).trim()}`);
    await page.locator(tid('contact-0-phone')).fill('+15550000077');
    await page.locator(tid('contacts-reason')).fill('new on-call engineer');
    await page.locator(tid('contacts-save')).click();
    await waitFor('the contacts saved', async () => page.locator(tid('contacts-ok')).isVisible());
    if ((await page.locator(tid('contact-0-phone')).inputValue()) !== '+15550000077') {
      throw new Failure('the saved contact does not read back');
    }

    await page.screenshot({ path: screenshot, fullPage: true });

    step('as ops: open the same tenant');
    const opsContext = await browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1 });
    page = await opsContext.newPage();
    page.on('pageerror', (err) => pageErrors.push(redact(err.message)));
    await page.goto(`${base}/?token=${encodeURIComponent(opsToken)}&tenant_id=7`, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
    await waitFor('the settings panel', async () => page.locator(tid('settings-panel')).isVisible());
    // Tenant 7 is outside ws.tickets' rollout: the page follows the rest without the tickets.
    await waitFor('a notice that the ticket clocks are off', async () => ((await page.locator('#error-banner').textContent()) || '').includes('flag ws.tickets'));
    await waitFor('the live figures without the tickets channel', async () => ((await page.locator(tid('conn-status')).textContent()) || '').trim().toLowerCase() === 'live');
    await page.locator(tid('settings-toggle')).click();
    const rollout = page.locator(tid('rollout-ws.tickets'));
    await waitFor('the flags with their rollout', async () => (await rollout.count()) > 0 && (await rollout.isVisible()));
    const words = ((await rollout.textContent()) || '').trim();
    step(`ws.tickets reads: ${words}`);
    if (!words.includes('25% of tenants') || !words.includes('tenants 9') || !words.includes('users carol')) {
      throw new Failure(`the rollout of ws.tickets is not shown in words: ${words}`);
    }
    step('switch notify.retractions off, with a reason');
    await page.locator(tid('reason')).fill('retraction notices confuse the night shift');
    await page.locator(tid('flag-notify.retractions')).click();
    const retractions = page.locator(tid('rollout-notify.retractions'));
    await waitFor('notify.retractions off', async () => ((await retractions.textContent()) || '').trim() === 'off for everyone');
    const audit = page.locator(`${tid('audit-list')} li`);
    await waitFor('the change in the audit', async () => (await audit.allTextContents()).some((t) => t.includes('flags.notify.retractions')));
    await page.screenshot({ path: withSuffix(screenshot, '.ops'), fullPage: true });
    if (pageErrors.length > 0) throw new Failure(`the page threw: ${pageErrors[0]}`);
    say('PASS');
  } catch (err) {
    if (page) {
      try {
        await page.screenshot({ path: withSuffix(screenshot, '.fail'), fullPage: true });
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
