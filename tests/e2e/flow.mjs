// The browser half of tests/browser.rs: drives Debian's Chromium through the real site with
// playwright-core. It runs in phases because only the Rust test can read the mailbox and call
// the API:
//
//   node tests/e2e/flow.mjs signup   env BASE_URL, EMAIL, PASSWORD, SHOTS
//       fills in and sends the sign-up form.
//   node tests/e2e/flow.mjs rest     env BASE_URL, EMAIL, PASSWORD, SHOTS, LINK
//       opens the mailed confirmation LINK, signs in, creates a key, checks it is shown once,
//       revokes it on the confirmation page, tops up through the fake Stripe page and signs out;
//       prints `KEY=<the key>` on stdout.
//   node tests/e2e/flow.mjs usage    env BASE_URL, EMAIL, PASSWORD, SHOTS, REQUESTS
//       signs in again and checks the usage page's charts and its log of REQUESTS requests.
//   node tests/e2e/flow.mjs layout   env BASE_URL, EMAIL, PASSWORD, SHOTS, PAGES
//       signs in and opens each of PAGES (comma-separated paths) 1280 and 390 pixels wide,
//       with a screenshot of each; fails where the page is wider than the window, and, at
//       1280, where a table cell is cut off by its box or breaks a word of code.
//   node tests/e2e/flow.mjs privacy  env BASE_URL, EMAIL, PASSWORD, SHOTS
//       downloads the data, restricts processing and deletes the account.
//
// A PNG screenshot of every step goes to SHOTS. Any failed expectation ends the script with a
// non-zero exit and one line saying what was expected, where, and which screenshot shows it.

import { Expectation, PHASE_TIMEOUT_MS, STEP_TIMEOUT_MS, env, expect, fail, launch } from './harness.mjs';
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const KEY_PATTERN = /^sk-cx-[A-Za-z0-9]{43}$/;

const phase = process.argv[2];
if (!['signup', 'rest', 'usage', 'layout', 'privacy'].includes(phase)) {
  fail(`usage: node flow.mjs signup|rest|usage|layout|privacy (got ${JSON.stringify(phase)})`);
}
const BASE = env('BASE_URL').replace(/\/$/, '');
const EMAIL = env('EMAIL');
const PASSWORD = env('PASSWORD');
const SHOTS = env('SHOTS');
mkdirSync(SHOTS, { recursive: true });

// The whole phase is bounded too, whatever hangs.
const watchdog = setTimeout(() => fail(`phase ${phase} took longer than ${PHASE_TIMEOUT_MS / 1000} s`), PHASE_TIMEOUT_MS);

let browser;
let page;
let lastShot = '(none yet)';
const pageErrors = [];

/// The code an authenticator app shows now for a base32 secret (RFC 6238: SHA-1, 30 s, 6 digits).
function totp(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = createHmac('sha1', Buffer.from(bytes)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, '0');
}

async function shot(name) {
  lastShot = join(SHOTS, `${name}.png`);
  await page.screenshot({ path: lastShot, fullPage: true });
  log(`screenshot ${lastShot}`);
}

function log(line) {
  process.stderr.write(`[e2e ${phase}] ${line}\n`);
}

function path() {
  const url = new URL(page.url());
  return url.pathname + url.search;
}

async function heading() {
  return (await page.locator('h1').first().innerText()).trim();
}

async function expectHeading(text, step) {
  const h1 = page.locator('h1', { hasText: text });
  try {
    await h1.first().waitFor({ state: 'visible' });
  } catch {
    const seen = await heading().catch(() => '(no h1)');
    throw new Expectation(`${step}: expected a page headed ${JSON.stringify(text)}, got ${JSON.stringify(seen)} at ${path()}`);
  }
}

async function expectPath(expected, step) {
  try {
    await page.waitForURL((url) => url.pathname + url.search === expected || url.pathname === expected);
  } catch {
    throw new Expectation(`${step}: expected to be at ${expected}, but at ${path()}`);
  }
}

// Clicks something that loads a new page and waits for that page's load event.
async function clickAndLoad(locator) {
  await Promise.all([page.waitForEvent('load'), locator.click()]);
}

async function signup() {
  await page.goto(`${BASE}/signup`);
  await expectHeading('Create an account', 'sign-up form');
  const form = page.locator('form[action="/signup"]');
  await form.locator('input[name=name]').fill('Ada Lovelace');
  await form.locator('input[name=email]').fill(EMAIL);
  await form.locator('input[name=password]').fill(PASSWORD);
  await shot('01-signup-form');
  await clickAndLoad(form.getByRole('button', { name: 'Create account' }));
  await expectHeading('Check your email', 'after sign-up');
  await shot('02-signup-check-your-email');
}

// Signs in again and reads the usage page after the test made API requests with a key.
async function usage() {
  const requests = Number(env('REQUESTS'));
  await page.goto(`${BASE}/login`);
  const login = page.locator('form[action="/login"]');
  await login.locator('input[name=email]').fill(EMAIL);
  await login.locator('input[name=password]').fill(PASSWORD);
  await clickAndLoad(login.getByRole('button', { name: 'Sign in' }));
  await expectPath('/dashboard', 'after signing in again');
  await shot('17-overview-after-requests');
  await clickAndLoad(page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Usage' }));
  await expectHeading('Usage', 'usage page');
  const charts = await page.locator('svg[role=img]').count();
  expect(charts >= 3, `the usage page shows ${charts} charts, expected cost, tokens and models`);
  const bars = await page.locator('svg.chart rect.chart-s1').count();
  expect(bars > 0, 'the charts draw no bars although requests were made');
  const rows = await page.locator('table.usage-log tbody tr').count();
  expect(rows === requests, `the request log lists ${rows} requests, expected ${requests}`);
  await shot('18-usage');
}

// Window widths the layout phase checks: a laptop, and a phone.
const LAYOUT_WIDTHS = [
  { width: 1280, height: 900 },
  { width: 390, height: 844 },
];

// What does not fit on the page now: the page wider than the window, and (where `cells`) table
// cells cut off by their scrolling box or by their own width, and words of code broken across
// lines. Each problem is one line naming the element.
function layoutProblems(cells) {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    problems.push(`the page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window`);
  }
  if (!cells) return problems;
  const name = (el) => {
    const table = el.closest('table');
    const label = table ? `table.${[...table.classList].join('.')}` : 'page';
    const text = el.textContent.replace(/\s+/g, ' ').trim().slice(0, 40);
    return `${label} cell ${JSON.stringify(text)}`;
  };
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  for (const wrap of document.querySelectorAll('.table-wrap')) {
    if (!visible(wrap)) continue;
    const box = wrap.getBoundingClientRect();
    for (const cell of wrap.querySelectorAll('td, th')) {
      if (!visible(cell)) continue;
      const r = cell.getBoundingClientRect();
      if (r.right > box.right + 1 || r.left < box.left - 1) {
        problems.push(`${name(cell)} reaches past its box (${Math.round(r.right)} > ${Math.round(box.right)})`);
      } else if (cell.scrollWidth > cell.clientWidth + 1) {
        problems.push(`${name(cell)} is wider than itself (${cell.scrollWidth} > ${cell.clientWidth})`);
      }
    }
    for (const code of wrap.querySelectorAll('td code, th code')) {
      if (!visible(code) || /\s/.test(code.textContent.trim())) continue;
      if (code.getClientRects().length > 1) {
        problems.push(`${name(code)} breaks ${JSON.stringify(code.textContent.trim())} across lines`);
      }
    }
  }
  return problems;
}

// Every page of PAGES at each width: a screenshot, and no part of it cut off.
async function layout() {
  const pages = env('PAGES').split(',').map((p) => p.trim()).filter((p) => p);
  await page.goto(`${BASE}/login`);
  const login = page.locator('form[action="/login"]');
  await login.locator('input[name=email]').fill(EMAIL);
  await login.locator('input[name=password]').fill(PASSWORD);
  await clickAndLoad(login.getByRole('button', { name: 'Sign in' }));
  await expectPath('/dashboard', 'after signing in for the layout checks');
  const problems = [];
  for (const size of LAYOUT_WIDTHS) {
    await page.setViewportSize(size);
    for (const target of pages) {
      const response = await page.goto(`${BASE}${target}`);
      const status = response ? response.status() : 0;
      expect(status === 200, `${target} answered ${status} at ${size.width}px`);
      expect(path() === target, `${target} went on to ${path()} at ${size.width}px`);
      // Open every <details>, so that the tables inside are measured too.
      await page.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
      const slug = target.replace(/^\//, '').replace(/[^a-z0-9]+/gi, '-') || 'home';
      await shot(`layout-${size.width}-${slug}`);
      const found = await page.evaluate(layoutProblems, size.width >= 1280);
      for (const problem of found) problems.push(`${target} at ${size.width}px: ${problem} (layout-${size.width}-${slug}.png)`);
    }
  }
  expect(problems.length === 0, `layout problems:\n  ${problems.join('\n  ')}`);
}

// The data rights, as a user exercises them: download the data and read it, restrict
// processing, then delete the account.
async function privacy() {
  await page.goto(`${BASE}/login`);
  const login = page.locator('form[action="/login"]');
  await login.locator('input[name=email]').fill(EMAIL);
  await login.locator('input[name=password]').fill(PASSWORD);
  await clickAndLoad(login.getByRole('button', { name: 'Sign in' }));
  await expectPath('/dashboard', 'after signing in for the privacy page');
  await clickAndLoad(page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Privacy' }));
  await expectHeading('Privacy', 'privacy page');
  await shot('19-privacy');

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download my data (JSON)' }).click(),
  ]);
  const file = await download.path();
  const data = JSON.parse(readFileSync(file, 'utf8'));
  const me = data.tables.users.rows[0];
  expect(me.email === EMAIL, `the download names ${JSON.stringify(me.email)}, expected ${EMAIL}`);
  expect(!('password_hash' in me), 'the download holds the password hash');
  const usageRows = data.tables.usage.rows.length;
  expect(usageRows > 0, 'the download holds no request metadata although requests were made');

  await clickAndLoad(page.getByRole('link', { name: 'Read it here' }));
  await expectHeading('Your data', 'the readable copy');
  expect((await page.getByText(EMAIL).count()) > 0, 'the readable copy does not show the address');
  await shot('20-my-data');
  await page.goBack();
  await page.waitForLoadState();

  await clickAndLoad(page.getByRole('button', { name: 'Restrict processing' }));
  expect(await page.getByText('Processing is restricted').isVisible(), 'no notice that processing is restricted');
  await shot('21-restricted');

  const erase = page.locator('form[action="/dashboard/privacy/delete"]');
  await erase.locator('input[name=password]').fill(PASSWORD);
  await shot('22-delete-form');
  await clickAndLoad(erase.getByRole('button', { name: 'Delete my account' }));
  await expectHeading('Your account is deleted', 'after deleting the account');
  await shot('23-deleted');
  await page.goto(`${BASE}/dashboard`);
  await expectHeading('Sign in', 'the dashboard after the deletion');
}

async function rest() {
  const link = env('LINK');
  expect(link.startsWith(`${BASE}/verify?token=`), `LINK ${link} is not a ${BASE}/verify?token= link`);

  // Confirm the address by the mailed link, in a browser that is not signed in.
  const response = await page.goto(link);
  expect(response && response.status() === 200, `confirmation link answered ${response && response.status()}`);
  await expectHeading('Email address confirmed', 'confirmation link');
  await shot('03-email-confirmed');

  // Its button leads to the dashboard, which first asks to sign in.
  await clickAndLoad(page.getByRole('link', { name: 'Go to the dashboard' }));
  await expectHeading('Sign in', 'dashboard before signing in');
  const login = page.locator('form[action="/login"]');
  await login.locator('input[name=email]').fill(EMAIL);
  await login.locator('input[name=password]').fill(PASSWORD);
  await shot('04-sign-in-form');
  await clickAndLoad(login.getByRole('button', { name: 'Sign in' }));
  await expectPath('/dashboard', 'after signing in');
  const signedInAs = await page.locator('.dash-user-email').innerText();
  expect(signedInAs.trim() === EMAIL, `dashboard shows ${JSON.stringify(signedInAs)} as the signed-in address, expected ${EMAIL}`);
  expect(
    (await page.locator('.dash-verify').count()) === 0,
    'dashboard still asks to confirm the email address after the link was opened',
  );
  await shot('05-dashboard');

  // Keys page, from the dashboard's navigation.
  await clickAndLoad(page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'API keys' }));
  await expectPath('/dashboard/keys', 'keys page');
  await expectHeading('API keys', 'keys page');
  expect(await page.getByText('No keys yet').isVisible(), 'a new account\'s keys page does not say "No keys yet"');

  const create = page.locator('form[action="/dashboard/keys"]');
  await create.locator('input[name=name]').fill('laptop');
  const submit = create.getByRole('button', { name: 'Create key' });
  expect(await submit.isEnabled(), 'the "Create key" button is disabled for a confirmed account');
  await shot('06-keys-create-form');
  await clickAndLoad(submit);

  // The new key, shown once.
  await expectHeading('Your new key: laptop', 'after creating a key');
  const key = (await page.locator('#new-key').innerText()).trim();
  expect(KEY_PATTERN.test(key), `the new key ${JSON.stringify(key)} does not look like sk-cx- and 43 letters or digits (49 characters)`);
  const warning = (await page.locator('.new-key-warning').innerText()).replace(/\s+/g, ' ');
  expect(/shown only once/i.test(warning), `the new-key page does not say the key is shown once: ${JSON.stringify(warning)}`);
  const copy = page.locator('button.copy[data-copy-target="new-key"]');
  await copy.click();
  // app.js relabels the button "Copied" (clipboard written) or "Press Ctrl+C" (text selected).
  await page.waitForFunction(
    () => /^(Copied|Press Ctrl\+C)$/.test(document.querySelector('button.copy[data-copy-target="new-key"]').textContent.trim()),
    null,
    { timeout: 5_000 },
  ).catch(() => { throw new Expectation('the key\'s Copy button did not react to a click'); });
  const copyLabel = (await copy.innerText()).trim();
  if (copyLabel === 'Copied') {
    const clipboard = await page.evaluate(() => navigator.clipboard.readText()).catch(() => null);
    expect(clipboard === null || clipboard.trim() === key, `the clipboard holds ${JSON.stringify(clipboard)}, not the key`);
  }
  log(`copy button said ${JSON.stringify(copyLabel)}`);
  await shot('07-key-created-shown-once');

  // The page came after a redirect: reloading it makes no second key, and shows the key no more.
  expect(path() === '/dashboard/keys/new', `the new key is shown at ${path()}, expected /dashboard/keys/new`);
  await page.reload();
  await expectPath('/dashboard/keys?shown=1', 'after reloading the new key\'s page');
  expect(!(await page.content()).includes(key), 'the key is shown again after a reload');
  await shot('07b-key-page-reloaded');

  // Back on the list, only the start of the key is shown.
  await clickAndLoad(page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'API keys' }));
  await expectPath('/dashboard/keys', 'back on the keys list');
  const html = await page.content();
  expect(!html.includes(key), 'the full key is still on the keys list after navigating back');
  const row = page.locator('table.key-table tbody tr', { has: page.locator('th', { hasText: 'laptop' }) });
  expect((await row.count()) === 1, `expected one "laptop" row on the keys list, found ${await row.count()}`);
  const shown = (await row.locator('code.key-prefix').innerText()).trim().replace(/\u2026$/, '');
  expect(
    shown.startsWith('sk-cx-') && shown.length < key.length && key.startsWith(shown),
    `the keys list shows ${JSON.stringify(shown)}, expected a short prefix of the new key`,
  );
  const active = (await row.locator('.key-status').innerText()).trim();
  expect(active === 'Active', `the new key's status is ${JSON.stringify(active)}, expected "Active"`);
  await shot('08-keys-list-prefix-only');

  // The browser's Back button does not bring the key back either (the page was no-store).
  try {
    await page.goBack();
  } catch (e) {
    log(`Back: ${e.message.split('\n')[0]}`);
  }
  expect(!(await page.content()).includes(key), `the full key is shown again after pressing Back (at ${path()})`);
  await shot('09-after-back-button');
  await page.goto(`${BASE}/dashboard/keys`);
  await expectHeading('API keys', 'keys page after Back');

  // Revoke, through the confirmation page.
  const listed = page.locator('table.key-table tbody tr', { has: page.locator('th', { hasText: 'laptop' }) });
  await clickAndLoad(listed.getByRole('link', { name: /Revoke/ }));
  expect(/^\/dashboard\/keys\/[^/]+\/revoke$/.test(new URL(page.url()).pathname), `Revoke led to ${path()}`);
  await expectHeading('Revoke laptop?', 'revoke confirmation');
  const confirmPrefix = (await page.locator('code.key-prefix').innerText()).trim().replace(/\u2026$/, '');
  expect(confirmPrefix === shown, `the confirmation page shows ${JSON.stringify(confirmPrefix)}, the list showed ${JSON.stringify(shown)}`);
  expect(!(await page.content()).includes(key), 'the revoke confirmation page shows the full key');
  await shot('10-revoke-confirm');
  await clickAndLoad(page.getByRole('button', { name: 'Revoke key' }));
  await expectPath('/dashboard/keys', 'after revoking');
  const revokedRow = page.locator('table.key-table tbody tr', { has: page.locator('th', { hasText: 'laptop' }) });
  const status = (await revokedRow.locator('.key-status').innerText()).trim();
  expect(status === 'Revoked', `after revoking, the key's status is ${JSON.stringify(status)}, expected "Revoked"`);
  expect((await revokedRow.getByRole('link', { name: /Revoke/ }).count()) === 0, 'a revoked key still has a Revoke link');
  await shot('11-key-revoked');

  // Two-factor sign-in: looking at the set-up page makes nothing; starting it shows the code to
  // scan; the app's code turns it on and the recovery codes are shown once.
  await clickAndLoad(page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Security' }));
  await expectHeading('Security', 'security page');
  await clickAndLoad(page.getByRole('link', { name: 'Set up two-factor sign-in' }));
  await expectHeading('Set up two-factor sign-in', 'two-factor set-up');
  expect((await page.locator('#totp-secret').count()) === 0, 'the set-up page shows a secret before it was started');
  await clickAndLoad(page.getByRole('button', { name: 'Show the code to scan' }));
  await expectPath('/dashboard/security/2fa', 'after starting the set-up');
  expect(await page.locator('.totp-qr svg').isVisible(), 'no QR code to scan');
  const secret = (await page.locator('#totp-secret').innerText()).trim();
  expect(/^[A-Z2-7]{32}$/.test(secret), `the secret shown is ${JSON.stringify(secret)}`);
  await shot('11b-two-factor-scan');
  await page.getByLabel('6-digit code').fill(totp(secret));
  await clickAndLoad(page.getByRole('button', { name: 'Turn on two-factor sign-in' }));
  await expectHeading('Two-factor sign-in is on', 'after turning two-factor sign-in on');
  const codes = (await page.locator('#recovery-codes').innerText()).trim().split(/\s+/);
  expect(codes.length === 10, `${codes.length} recovery codes shown, expected 10`);
  await shot('11c-recovery-codes');
  // And off again, with the password, so the later sign-ins of this flow need none.
  await page.goto(`${BASE}/dashboard/security`);
  await page.locator('#totp-off-password').fill(PASSWORD);
  await clickAndLoad(page.getByRole('button', { name: 'Turn off two-factor sign-in' }));
  await expectPath('/dashboard/security?notice=2fa-off', 'after turning two-factor sign-in off');

  // Top up through the (fake) Stripe payment page; the balance shows the credit on return.
  await clickAndLoad(page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Billing' }));
  await expectHeading('Billing', 'billing page');
  const before = (await page.locator('.bill-balance').innerText()).trim();
  expect(before === '$0.00', `a new account's balance is ${JSON.stringify(before)}, expected "$0.00"`);
  await shot('12-billing');
  await clickAndLoad(page.locator('form.bill-presets').getByRole('button', { name: '$25.00' }));
  await expectHeading('Fake Stripe Checkout', 'Stripe payment page');
  await shot('13-stripe-checkout');
  await clickAndLoad(page.getByRole('button', { name: 'Pay' }));
  expect(new URL(page.url()).pathname === '/dashboard/billing/topup/done', `after paying the browser is at ${path()}`);
  await expectHeading('Payment received', 'back from Stripe');
  await shot('14-payment-received');
  await clickAndLoad(page.getByRole('link', { name: 'Back to billing' }));
  const after = (await page.locator('.bill-balance').innerText()).trim();
  expect(after === '$25.00', `after paying, the balance is ${JSON.stringify(after)}, expected "$25.00"`);
  await shot('15-balance-credited');

  // Sign out, and the dashboard is closed again.
  await clickAndLoad(page.locator('form.dash-signout').getByRole('button', { name: 'Sign out' }));
  await expectPath('/login?notice=signed-out', 'after signing out');
  await expectHeading('Sign in', 'after signing out');
  expect(await page.getByText('You are signed out.').isVisible(), 'the sign-in page does not say "You are signed out."');
  await shot('16-signed-out');
  await page.goto(`${BASE}/dashboard/keys`);
  expect(new URL(page.url()).pathname === '/login', `after signing out, /dashboard/keys showed ${path()} instead of the sign-in page`);

  process.stdout.write(`KEY=${key}\n`);
}

browser = await launch();

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    log(`console error at ${page.url()}: ${m.text()}`);
    // A page that breaks the site's own Content Security Policy is a bug, not noise.
    if (m.text().includes('Content Security Policy')) pageErrors.push(`${page.url()}: ${m.text()}`);
  });
  if (phase === 'signup') await signup();
  else if (phase === 'usage') await usage();
  else if (phase === 'privacy') await privacy();
  else if (phase === 'layout') await layout();
  else await rest();
  expect(pageErrors.length === 0, `script errors on the pages: ${pageErrors.join('; ')}`);
  await browser.close();
  clearTimeout(watchdog);
  log('ok');
} catch (e) {
  let where = '';
  if (page) {
    where = ` (at ${page.url()})`;
    try {
      await shot('failure');
    } catch {}
  }
  const message = e instanceof Expectation ? e.message : `${e.name}: ${e.message.split('\n')[0]}`;
  await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
  fail(`${message}${where}; last screenshot: ${lastShot}`);
}
