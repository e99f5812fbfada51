// dashboard.js — the browser half of tests/dashboard_test.sh: Debian's
// headless Chromium, driven by playwright-core, against a running
// ledger-dashboard.
//
//   node dashboard.js BASE_URL PLAN YEAR TARGET CITY WANT WANT_AFTER -- CMD ARG...
//
// Loads BASE_URL/?plan=PLAN&year=YEAR, waits until the card of TARGET shows
// WANT (the province figure) and the bar of CITY exists, runs CMD (which
// appends an event), then waits until the same card shows WANT_AFTER and the
// "last update" seq has grown — without a reload (a mark left on the window
// must survive). Any page error, console error or failed request fails it.
// Exit status: 0 passed; 1 failed; 77 Chromium could not be launched.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const [base, plan, year, target, city, want, wantAfter, sep, ...cmd] = process.argv.slice(2);
if (!wantAfter || sep !== '--' || !cmd.length) {
  console.error('usage: node dashboard.js BASE_URL PLAN YEAR TARGET CITY WANT WANT_AFTER -- CMD ARG...');
  process.exit(2);
}
const exe = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.TMPDIR || '/tmp';

function fail(msg) {
  console.error('dashboard.js: FAIL: ' + msg);
  process.exitCode = 1;
  throw new Error(msg);
}

(async () => {
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e) {
    console.error('dashboard.js: playwright-core is not installed (npm ci in tests/browser): ' + e.message);
    process.exit(1);
  }
  let browser;
  try {
    browser = await chromium.launch({ executablePath: exe, headless: true, timeout: 30000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  } catch (e) {
    console.error(`dashboard.js: unable to launch ${exe}: ${e.message.split('\n')[0]}`);
    process.exit(77);
  }
  const problems = [];
  const page = await browser.newPage();
  try {
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
    page.on('requestfailed', (r) => {
      // The SSE stream is cut when the page closes; anything else failing is a fault.
      if (!r.url().includes('/api/events')) problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`);
    });
    const url = `${base}/?plan=${encodeURIComponent(plan)}&year=${year}&target=${encodeURIComponent(target)}`;
    const resp = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
    if (!resp || resp.status() !== 200) fail(`GET ${url}: ${resp && resp.status()}`);

    const card = `article.card[data-target="${target}"]`;
    const actual = `${card} .actual`;
    try {
      await page.waitForFunction(([sel, v]) => {
        const e = document.querySelector(sel);
        return e && e.dataset.value === v;
      }, [actual, want], { timeout: 15000 });
    } catch (e) {
      const got = await page.$eval(actual, (x) => x.dataset.value).catch(() => 'no such element');
      fail(`the card of ${target} does not show the seeded ${want} (shows ${got}); ${problems.join('; ')}`);
    }
    const cityBar = `#cities rect[data-region="${city}"]`;
    const cityBefore = await page.$eval(cityBar, (e) => e.dataset.value).catch(() => null);
    if (cityBefore === null) fail(`no per-city bar for ${city}`);
    const title = await page.$eval('#plan-title', (e) => e.textContent);
    if (!title) fail('the plan title is empty');
    await page.waitForFunction(() => document.getElementById('live').textContent.startsWith('live'),
      null, { timeout: 10000 }).catch(() => fail('the live indicator never says "live"'));
    const seqBefore = Number(await page.$eval('#last', (e) => e.dataset.seq));
    const line = await page.$$eval('#line polyline.actual', (e) => e.length);
    if (line !== 1) fail('no cumulative line');
    const pace = await page.$$eval('#line line.pace', (e) => e.length);
    if (pace !== 1) fail('no target pace line');
    await page.evaluate(() => { window.__noReload = 1; });
    await page.screenshot({ path: path.join(shots, 'dashboard-before.png'), fullPage: true });
    console.log(`dashboard.js: page shows ${target} = ${want}, ${city} bar = ${cityBefore}, seq ${seqBefore}; appending`);

    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 15000 });
    if (r.status !== 0) fail(`${cmd.join(' ')}: exit ${r.status}: ${r.stderr}`);
    process.stdout.write(r.stdout);

    const t0 = Date.now();
    try {
      await page.waitForFunction(([sel, v]) => {
        const e = document.querySelector(sel);
        return e && e.dataset.value === v;
      }, [actual, wantAfter], { timeout: 10000 });
    } catch (e) {
      const got = await page.$eval(actual, (x) => x.dataset.value).catch(() => 'no such element');
      fail(`after the append the card of ${target} shows ${got}, not ${wantAfter}; ${problems.join('; ')}`);
    }
    const ms = Date.now() - t0;
    if (!(await page.evaluate(() => window.__noReload === 1))) fail('the page was reloaded');
    const seqAfter = Number(await page.$eval('#last', (e) => e.dataset.seq));
    if (!(seqAfter > seqBefore)) fail(`the last-update seq did not grow (${seqBefore} -> ${seqAfter})`);
    // The city's report is a message of its own (topic progress/PLAN/CITY), maybe a moment later.
    const cityWant = String(Number(cityBefore) + 1);
    await page.waitForFunction(([sel, v]) => {
      const e = document.querySelector(sel);
      return e && e.dataset.value === v;
    }, [cityBar, cityWant], { timeout: 10000 }).catch(() => null);
    const cityAfter = await page.$eval(cityBar, (e) => e.dataset.value);
    if (cityAfter !== cityWant) fail(`the ${city} bar shows ${cityAfter}, wanted ${cityWant}`);
    const dots = await page.$$eval('#line circle.dot', (e) => e.length);
    if (dots < 2) fail(`the cumulative line has ${dots} point(s) after an update, wanted 2 or more`);
    await page.screenshot({ path: path.join(shots, 'dashboard-after.png'), fullPage: true });
    if (problems.length) fail(problems.join('; '));
    console.log(`dashboard.js: updated live to ${wantAfter} in ${ms} ms (seq ${seqBefore} -> ${seqAfter}), ${city} bar ${cityBefore} -> ${cityAfter}`);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  if (!process.exitCode) console.error('dashboard.js: FAIL: ' + e.message);
  process.exitCode = 1;
});
