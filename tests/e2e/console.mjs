// The browser half of tests/console_browser.rs: an operator runs the service from the admin
// console in Debian's Chromium, driven by playwright-core. One phase per run, because between
// them the Rust test sends API requests and breaks or mends the provider:
//
//   node tests/e2e/console.mjs approve    approve USER's sign-up and grant it credit
//   node tests/e2e/console.mjs analytics  see USER's REQUESTS requests in analytics
//   node tests/e2e/console.mjs down       test PROVIDER and see it fail
//   node tests/e2e/console.mjs up         test PROVIDER and see it answer again
//   node tests/e2e/console.mjs suspend    suspend USER
//   node tests/e2e/console.mjs delete     delete USER
//
// Every phase signs in as ADMIN (with PASSWORD) at BASE_URL and writes PNG screenshots to SHOTS.
// A failed expectation ends the script with a non-zero exit and one line saying what, where,
// and which screenshot shows it.

import { Expectation, PHASE_TIMEOUT_MS, STEP_TIMEOUT_MS, env, expect, fail, launch } from './harness.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const PHASES = ['approve', 'analytics', 'down', 'up', 'suspend', 'delete'];

const phase = process.argv[2];
if (!PHASES.includes(phase)) fail(`usage: node console.mjs ${PHASES.join('|')} (got ${JSON.stringify(phase)})`);
const BASE = env('BASE_URL').replace(/\/$/, '');
const ADMIN = env('ADMIN');
const PASSWORD = env('PASSWORD');
const SHOTS = env('SHOTS');
mkdirSync(SHOTS, { recursive: true });
const watchdog = setTimeout(() => fail(`phase ${phase} took longer than ${PHASE_TIMEOUT_MS / 1000} s`), PHASE_TIMEOUT_MS);

let browser;
let page;
let lastShot = '(none yet)';
const pageErrors = [];

function log(line) {
  process.stderr.write(`[console ${phase}] ${line}\n`);
}

async function shot(name) {
  lastShot = join(SHOTS, `console-${name}.png`);
  await page.screenshot({ path: lastShot, fullPage: true });
  log(`screenshot ${lastShot}`);
}

async function clickAndLoad(locator) {
  await Promise.all([page.waitForEvent('load'), locator.click()]);
}

async function expectText(text, step) {
  try {
    await page.getByText(text).first().waitFor({ state: 'visible' });
  } catch {
    throw new Expectation(`${step}: expected ${JSON.stringify(text)} on ${new URL(page.url()).pathname}`);
  }
}

async function signIn() {
  await page.goto(`${BASE}/login`);
  const login = page.locator('form[action="/login"]');
  await login.locator('input[name=email]').fill(ADMIN);
  await login.locator('input[name=password]').fill(PASSWORD);
  await clickAndLoad(login.getByRole('button', { name: 'Sign in' }));
  expect(new URL(page.url()).pathname === '/dashboard', `sign-in ended at ${page.url()}`);
}

// The console is reached from the dashboard, and the user's page from the list.
async function openUser(user) {
  await clickAndLoad(page.getByRole('link', { name: 'Admin console' }));
  await clickAndLoad(page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Users', exact: true }));
  const search = page.locator('form[action="/admin/users"][method="get"]');
  await search.locator('input[name=q]').fill(user);
  await clickAndLoad(search.getByRole('button', { name: 'Find' }));
  await clickAndLoad(page.locator('table').getByRole('link').first());
  await expectText(user, 'the account page');
}

async function approve() {
  const user = env('USER');
  await clickAndLoad(page.getByRole('link', { name: 'Admin console' }));
  await expectText('Waiting for approval', 'the overview');
  await shot('01-overview');
  await clickAndLoad(page.locator('main, body').getByRole('link', { name: 'Ada Lovelace' }).first());
  await expectText(user, 'the pending account');
  await shot('02-pending-user');
  await clickAndLoad(page.getByRole('button', { name: 'Approve' }));
  await expectText('The sign-up is approved', 'after approving');
  const wallet = page.locator('form[action$="/wallet"]');
  await wallet.locator('select[name=kind]').selectOption('grant');
  await wallet.locator('input[name=amount]').fill('5.00');
  await wallet.locator('input[name=reason]').fill('welcome credit');
  await clickAndLoad(wallet.getByRole('button', { name: 'Book' }));
  await expectText('The wallet is booked', 'after the grant');
  const balance = (await page.locator('#user-balance').innerText()).trim();
  expect(balance.includes('5.00'), `the balance reads ${JSON.stringify(balance)} after a 5.00 grant`);
  await shot('03-approved-and-granted');
}

async function analytics() {
  const user = env('USER');
  const requests = env('REQUESTS');
  await clickAndLoad(page.getByRole('link', { name: 'Admin console' }));
  await clickAndLoad(page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Analytics', exact: true }));
  const total = (await page.locator('#total-requests').innerText()).trim();
  expect(total === requests, `analytics counts ${total} requests, expected ${requests}`);
  const accounts = await page.locator('#admin-accounts-table').innerText();
  expect(accounts.includes(user), `the top accounts do not list ${user}`);
  expect((await page.locator('svg[role=img]').count()) >= 2, 'analytics shows no charts');
  await shot('04-analytics');
}

async function testProvider(expected, name) {
  const provider = env('PROVIDER');
  await clickAndLoad(page.getByRole('link', { name: 'Admin console' }));
  await clickAndLoad(page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Providers', exact: true }));
  await clickAndLoad(page.locator(`form[action="/admin/providers/${provider}/test"]`).getByRole('button', { name: 'Test' }));
  const result = (await page.locator('#probe-result').innerText()).trim();
  expect(result.includes(expected), `the test of ${provider} says ${JSON.stringify(result)}, expected ${JSON.stringify(expected)}`);
  await shot(name);
}

async function suspend() {
  await openUser(env('USER'));
  const form = page.locator('form[action$="/suspend"]');
  await form.locator('input[name=reason]').fill('card dispute');
  await clickAndLoad(form.getByRole('button', { name: 'Suspend' }));
  await expectText('The account is suspended', 'after suspending');
  await shot('07-suspended');
}

async function remove() {
  const user = env('USER');
  await openUser(user);
  const form = page.locator('form[action$="/delete"]');
  await form.locator('input[name=confirm]').fill(user);
  await shot('08-delete-form');
  await clickAndLoad(form.getByRole('button', { name: 'Delete the account' }));
  await expectText('The account is deleted', 'after deleting');
  const listed = await page.locator('body').innerText();
  expect(!listed.includes(user), `${user} is still listed after the deletion`);
  await shot('09-deleted');
}

browser = await launch();

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && m.text().includes('Content Security Policy')) pageErrors.push(`${page.url()}: ${m.text()}`);
  });
  await signIn();
  if (phase === 'approve') await approve();
  else if (phase === 'analytics') await analytics();
  else if (phase === 'down') await testProvider('failed', '05-provider-down');
  else if (phase === 'up') await testProvider('answered', '06-provider-up');
  else if (phase === 'suspend') await suspend();
  else await remove();
  expect(pageErrors.length === 0, `script errors on the pages: ${pageErrors.join('; ')}`);
  await browser.close();
  clearTimeout(watchdog);
  log('ok');
} catch (e) {
  const where = page ? ` (at ${page.url()})` : '';
  if (page) {
    try {
      await shot('failure');
    } catch {}
  }
  const message = e instanceof Expectation ? e.message : `${e.name}: ${e.message.split('\n')[0]}`;
  await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
  fail(`${message}${where}; last screenshot: ${lastShot}`);
}
