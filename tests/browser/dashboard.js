// dashboard.js — the browser half of tests/dashboard_test.sh: Debian's
// headless Chromium (fresh profile, no sandbox, no GPU), driven by
// playwright-core, against a running ledger-dashboard.
//
//   node dashboard.js live BASE_URL PLAN YEAR TARGET CITY WANT WANT_AFTER -- CMD ARG...
//     Loads the page, waits until the card of TARGET shows WANT (the province
//     figure) and the bar of CITY exists, runs CMD (which appends an event),
//     then waits until the same card shows WANT_AFTER, the "last update" seq
//     has grown and the city's bar has moved — without a reload.
//   node dashboard.js view BASE_URL EXPECT.json
//     What a reader sees (EXPECT holds the figures per ledgerctl): Chinese by
//     default with <html lang>, drawn with a CJK font; English for an English
//     browser; no internal references; a city drill-down showing that city's
//     figures and the events behind them by kind; the past year's curve with a
//     point per day with events; the CSV, SVG and PNG exports; the layout at
//     1400 and 420 px
//     (no horizontal overflow; screenshots kept in $TMPDIR).
//   node dashboard.js restart BASE_URL PLAN YEAR TARGET WANT_AFTER DIR
//     An open page while the daemon stops and starts again (the shell does
//     it when DIR/page-ready and DIR/page-down appear): it says the ledger
//     does not answer, no longer "live", keeping its figures; then live again
//     with TARGET at WANT_AFTER (recorded meanwhile), without a reload.
//   node dashboard.js down BASE_URL
//     With the daemon stopped: a plain sentence, no address or error code.
//   node dashboard.js scoped BASE_URL CITY NAME
//     A reader of one city (the dashboard runs as it): the page opens on
//     CITY (crumb NAME), offers no other region and no way back to the
//     province, stays there when another city's bar is clicked, and asks
//     nothing the daemon refuses.
//
// Any page error, console error or failed request fails it. Exit status: 0
// passed; 1 failed; 77 Chromium could not be launched.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const [mode, base, ...rest] = process.argv.slice(2);
const exe = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.TMPDIR || '/tmp';

function fail(msg) {
  msg = [...new Set(String(msg).split('; '))].slice(0, 4).join('; ');
  console.error(`dashboard.js ${mode}: FAIL: ${msg}`);
  process.exitCode = 1;
  throw new Error(msg);
}
const say = (msg) => console.log(`dashboard.js ${mode}: ${msg}`);

async function launch() {
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e) {
    console.error('dashboard.js: playwright-core is not installed (npm ci in tests/browser): ' + e.message);
    process.exit(1);
  }
  try {
    // launch() gives each run a fresh temporary profile (--user-data-dir).
    return await chromium.launch({ executablePath: exe, headless: true, timeout: 30000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--no-first-run'] });
  } catch (e) {
    console.error(`dashboard.js: unable to launch ${exe}: ${e.message.split('\n')[0]}`);
    process.exit(77);
  }
}

// A page of a new context (locale, viewport) that records every problem.
async function openPage(browser, opts, problems, allowFailed) {
  const ctx = await browser.newContext({ acceptDownloads: true, locale: 'zh-CN', viewport: { width: 1400, height: 1000 }, ...opts });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !allowFailed) problems.push('console error: ' + m.text()); });
  page.on('requestfailed', (r) => {
    // The SSE stream is cut when the page closes; anything else failing is a fault.
    if (!r.url().includes('/api/events') && !allowFailed) problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`);
  });
  return page;
}

async function goto(page, url) {
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (!resp || resp.status() !== 200) fail(`GET ${url}: ${resp && resp.status()}`);
}

async function waitValue(page, sel, want, what, problems, timeout = 15000) {
  try {
    await page.waitForFunction(([s, v]) => {
      const e = document.querySelector(s);
      return e && e.dataset.value === v;
    }, [sel, String(want)], { timeout });
  } catch (e) {
    const got = await page.$eval(sel, (x) => x.dataset.value).catch(() => 'no such element');
    fail(`${what}: shows ${got}, wanted ${want}; ${problems.join('; ')}`);
  }
}

// --- live --------------------------------------------------------------------

async function live(browser) {
  const [plan, year, target, city, want, wantAfter, sep, ...cmd] = rest;
  if (!wantAfter || sep !== '--' || !cmd.length) fail('usage: live BASE_URL PLAN YEAR TARGET CITY WANT WANT_AFTER -- CMD ARG...');
  const problems = [];
  const page = await openPage(browser, {}, problems);
  await goto(page, `${base}/?plan=${encodeURIComponent(plan)}&year=${year}&target=${encodeURIComponent(target)}`);
  const actual = `article.card[data-target="${target}"] .actual`;
  await waitValue(page, actual, want, `the card of ${target}`, problems);
  const cityBar = `#cities rect[data-region="${city}"]`;
  const cityBefore = await page.$eval(cityBar, (e) => e.dataset.value).catch(() => null);
  if (cityBefore === null) fail(`no per-city bar for ${city}`);
  const title = await page.$eval('#plan-title', (e) => e.textContent);
  if (!title) fail('the plan title is empty');
  await page.waitForSelector('#live.on', { timeout: 10000 }).catch(() => fail('the live indicator never turns on'));
  const seqBefore = Number(await page.$eval('#last', (e) => e.dataset.seq));
  if ((await page.$$('#line line.pace')).length !== 1) fail('no target pace line');
  await page.evaluate(() => { window.__noReload = 1; });
  say(`page shows ${target} = ${want}, ${city} bar = ${cityBefore}, seq ${seqBefore}; appending`);

  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 15000 });
  if (r.status !== 0) fail(`${cmd.join(' ')}: exit ${r.status}: ${r.stderr}`);
  process.stdout.write(r.stdout);

  const t0 = Date.now();
  await waitValue(page, actual, wantAfter, `after the append the card of ${target}`, problems, 10000);
  const ms = Date.now() - t0;
  if (!(await page.evaluate(() => window.__noReload === 1))) fail('the page was reloaded');
  const seqAfter = Number(await page.$eval('#last', (e) => e.dataset.seq));
  if (!(seqAfter > seqBefore)) fail(`the last-update seq did not grow (${seqBefore} -> ${seqAfter})`);
  // The city's report is a message of its own (topic progress/PLAN/CITY), maybe a moment later.
  await waitValue(page, cityBar, Number(cityBefore) + 1, `the ${city} bar`, problems, 10000);
  await page.screenshot({ path: path.join(shots, 'dashboard-live.png'), fullPage: true });
  if (problems.length) fail(problems.join('; '));
  say(`updated live to ${wantAfter} in ${ms} ms (seq ${seqBefore} -> ${seqAfter})`);
}

// --- view --------------------------------------------------------------------

// The fonts Chromium drew sel's text with (DevTools: CSS.getPlatformFontsForNode).
async function fontsOf(page, sel) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('DOM.enable');
  await cdp.send('CSS.enable');
  const { root } = await cdp.send('DOM.getDocument', { depth: -1 });
  const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: sel });
  if (!nodeId) fail(`no element ${sel}`);
  const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
  await cdp.detach();
  return fonts;
}

// Nothing wider than the window: the page does not scroll sideways, and
// no element of the page reaches past its right edge.
async function checkLayout(page, width) {
  await page.setViewportSize({ width, height: 1000 });
  await page.waitForTimeout(400); // the charts redraw after a resize
  const over = await page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const bad = [];
    if (document.documentElement.scrollWidth > w) bad.push(`the page is ${document.documentElement.scrollWidth}px wide`);
    for (const e of document.querySelectorAll('header *, main *, footer')) {
      const r = e.getBoundingClientRect();
      if (r.width && (r.right > w + 0.5 || r.left < -0.5)) bad.push(`${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${e.getAttribute('class') || ''} spans ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
    return bad.slice(0, 5);
  });
  const file = path.join(shots, `dashboard-${width}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (over.length) fail(`at ${width} px: ${over.join('; ')} (screenshot ${file})`);
  // Cards side by side on a desktop, one column on a phone: read until the
  // layout says so, for 3 s at most (a loaded machine reflows late; a
  // single reading 400 ms after the resize once found 1 column at 1400 px
  // while the screenshot taken just before showed 5).
  const want = (n) => (width >= 1400 ? n >= 3 : width <= 420 ? n === 1 : true);
  let cols = 0;
  for (let i = 0; i < 30; i++) {
    cols = await page.$$eval('article.card', (cs) => new Set(cs.map((c) => Math.round(c.getBoundingClientRect().left))).size);
    if (want(cols)) break;
    await page.waitForTimeout(100);
  }
  if (width >= 1400 && cols < 3) fail(`at ${width} px the cards stand in ${cols} column(s)`);
  if (width <= 420 && cols !== 1) fail(`at ${width} px the cards stand in ${cols} columns`);
  say(`layout at ${width} px: no overflow, ${cols} card column(s); ${file}`);
}

async function download(page, click) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), click()]);
  const file = path.join(shots, dl.suggestedFilename());
  await dl.saveAs(file);
  return { name: dl.suggestedFilename(), data: fs.readFileSync(file) };
}

async function view(browser) {
  const x = JSON.parse(fs.readFileSync(rest[0], 'utf8'));
  const problems = [];
  const page = await openPage(browser, {}, problems);
  const card = (t) => `article.card[data-target="${t}"] .actual`;
  await goto(page, `${base}/?plan=${x.plan}&year=${x.year}&target=${x.target}`);
  await waitValue(page, card(x.target), x.province, 'the province figure', problems);

  // Chinese, drawn with a CJK font, and nothing internal on the screen.
  const lang = await page.evaluate(() => document.documentElement.lang);
  if (lang !== 'zh-CN') fail(`<html lang="${lang}">, wanted zh-CN`);
  const h1 = await page.$eval('h1', (e) => e.textContent);
  if (h1 !== '计划进展') fail(`the heading is '${h1}'`);
  for (const sel of ['h1', `#cities g.city[data-region="${x.city}"] text.name`, 'article.card h3']) {
    const fonts = await fontsOf(page, sel);
    const cjk = fonts.filter((f) => /CJK|Noto Sans SC|WenQuanYi|Droid Sans Fallback/i.test(f.familyName));
    const glyphs = fonts.reduce((n, f) => n + f.glyphCount, 0);
    if (!cjk.length || cjk.reduce((n, f) => n + f.glyphCount, 0) < glyphs - 2)
      fail(`${sel} is not drawn with a CJK font: ${JSON.stringify(fonts)}`);
  }
  const text = await page.evaluate(() => document.body.innerText);
  for (const bad of ['seeds/', '§', 'sum:', 'amount_fen', 'distinct_members', 'tcp://', 'ERR_'])
    if (text.includes(bad)) fail(`the page shows '${bad}'`);
  say(`Chinese (lang ${lang}), drawn with ${(await fontsOf(page, 'h1')).map((f) => f.familyName).join(', ')}`);

  // A target still running says where its figure should be by now (the
  // pace, the bar's mark, as a number: the daemon's own 'expected') and its
  // deadline in words that do not read as "as of".
  const totalCard = 'article.card[data-target="new-members-total"]';
  const paceShown = Number(await page.$eval(`${totalCard} .pace-n`, (e) => e.dataset.value));
  const paceText = await page.$eval(`${totalCard} .pace-n`, (e) => e.textContent);
  const rep = await page.evaluate(async (p) => (await fetch(`api/progress?plan=${p}&region=320000`)).json(), x.plan);
  const prow = rep.rows.find((r) => r.target_id === 'new-members-total');
  if (!prow || Math.abs(Number(prow.expected) - paceShown) > 1 || !paceText.startsWith('按进度应达 '))
    fail(`the pace of new-members-total shows '${paceText}' (${paceShown}), the daemon's is ${prow && prow.expected}`);
  const due = await page.$eval(`${totalCard} .window`, (e) => e.textContent);
  if (!/^目标期限 2026-12-31$/.test(due)) fail(`new-members-total's deadline reads '${due}'`);
  if ((await page.$eval('#cards', (e) => e.textContent)).includes('截至')) fail("a card says '截至' (as of) of a deadline");
  say(`new-members-total: '${paceText}' (the daemon's pace ${prow.expected}), '${due}'`);
  // An average a year (年均30万) says what it is judged on: the plan's
  // whole figure against 300,000 for each of its 3 years.
  const avgCard = 'article.card[data-target="new-members-yearly"]';
  const avgWindow = await page.$eval(`${avgCard} .window`, (e) => e.textContent);
  const avgOf = await page.$eval(`${avgCard} .of`, (e) => e.textContent);
  if (avgWindow !== '年均 300,000，共3年' || !avgOf.includes('/ 900,000'))
    fail(`new-members-yearly's card reads '${avgOf}', '${avgWindow}'`);
  say(`new-members-yearly: '${avgOf.trim()}', '${avgWindow}'`);

  // The real curve of a past year: a point per day with events counted, up
  // to the figure, against the pace.
  await page.waitForFunction((n) => document.querySelectorAll('#line circle.dot').length === n, x.joinDays, { timeout: 10000 })
    .catch(async () => fail(`the ${x.year} curve has ${await page.$$eval('#line circle.dot', (d) => d.length)} points, ` +
      `the log ${x.joinDays} days with joins`));
  const total = await page.$eval('#line', (e) => e.dataset.total);
  if (total !== String(x.province)) fail(`the curve ends at ${total}, the figure is ${x.province}`);
  if ((await page.$$('#line line.pace')).length !== 1 || (await page.$$('#line polyline.actual')).length !== 1)
    fail('the curve or the pace line is missing');
  say(`the ${x.year} curve: ${x.joinDays} points (days with joins in the log), up to ${total}`);

  // The layout holds on a desktop and on a phone.
  await checkLayout(page, 1400);
  await checkLayout(page, 420);
  // A projector: larger letters, read from across a room.
  await checkLayout(page, 1920);
  const px = async (sel) => parseFloat(await page.$eval(sel, (e) => getComputedStyle(e).fontSize));
  const sizes = { meta: await px('article.card .meta'), h3: await px('article.card h3'), svg: await px('#line text') };
  if (sizes.meta < 14 || sizes.h3 < 16 || sizes.svg < 13) fail(`at 1920 px the text is small: ${JSON.stringify(sizes)} px`);
  say(`at 1920 px: ${JSON.stringify(sizes)} px`);
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.setViewportSize({ width: 1400, height: 1000 });

  // Drill-down: a click on a city shows that city's figures.
  await page.click(`#cities g.city[data-region="${x.city}"]`);
  await page.waitForFunction((c) => new URLSearchParams(location.search).get('region') === String(c), x.city, { timeout: 5000 })
    .catch(() => fail('the click on the city does not open it'));
  const crumb = await page.$eval('#crumb-city', (e) => e.textContent);
  if (crumb !== x.cityName) fail(`the drill-down is titled '${crumb}', not '${x.cityName}'`);
  for (const [t, v] of Object.entries(x.cityFigures)) await waitValue(page, card(t), v, `${x.cityName}'s ${t}`, problems, 5000);
  const money = await page.$eval(`article.card[data-target="${x.moneyTarget}"] .actual`, (e) => e.textContent);
  if (money !== x.cityMoney) fail(`${x.cityName}'s ${x.moneyTarget} reads '${money}', wanted '${x.cityMoney}'`);
  say(`drill-down into ${crumb}: ${JSON.stringify(x.cityFigures)}, ${money}`);

  // The transfers waiting for acceptance per city (the gateway's --org):
  // each city's releases to accept and sent, the chosen city's row marked.
  if (x.pending) {
    await page.waitForSelector('#pending:not([hidden]) tr[data-org="SZ"]', { timeout: 10000 })
      .catch(() => fail('the transfers waiting for acceptance are not shown'));
    for (const [org, [inn, out]] of Object.entries(x.pending)) {
      const got = await page.$$eval(`#pending tr[data-org="${org}"] td.n[data-value]`, (tds) => tds.map((t) => Number(t.dataset.value)));
      if (got[0] !== inn || got[1] !== out) fail(`${org}'s transfers waiting: ${JSON.stringify(got)}, wanted ${inn}, ${out}`);
    }
    const row = await page.$eval('#pending tr[data-org="SZ"]', (r) => ({ cls: r.className, text: r.innerText }));
    if (!row.cls.includes('chosen') || !row.text.includes(x.cityName) || !/\d+天/.test(row.text))
      fail(`${x.cityName}'s row of transfers waiting reads '${row.text}' (${row.cls})`);
    say(`transfers waiting: ${row.text.replace(/\s+/g, ' ')}`);
  }

  // A figure links to the events behind it: counted by kind, and the voided.
  await page.click(`article.card[data-target="${x.target}"] a.actual`);
  await page.waitForSelector('#behind:not([hidden]) tr[data-kind="member_joined"]', { timeout: 5000 })
    .catch(() => fail('the figure does not open the events behind it'));
  const kinds = await page.$$eval('#behind tr[data-kind]', (rows) => Object.fromEntries(rows.map((r) => [r.dataset.kind, Number(r.querySelector('td.n').dataset.value)])));
  const want = { member_joined: x.cityFigures[x.target], event_voided: x.cityVoided };
  if (JSON.stringify(kinds) !== JSON.stringify(want)) fail(`the events behind ${x.cityName}'s figure: ${JSON.stringify(kinds)}, wanted ${JSON.stringify(want)}`);
  const behindText = await page.$eval('#behind', (e) => e.innerText);
  if (!behindText.includes('已作废') || !behindText.includes(x.cityName)) fail(`the events behind read '${behindText}'`);
  say(`the events behind ${x.cityName}'s ${x.target}: ${JSON.stringify(kinds)}`);

  // Exports of that view.
  const csv = await download(page, () => page.click('#export-csv'));
  const lines = csv.data.toString('utf8').replace(/^\ufeff/, '').trim().split(/\r\n/);
  if (!lines[0].startsWith('指标,指标编号,')) fail(`the CSV header is '${lines[0]}'`);
  for (const [t, v] of Object.entries(x.cityFigures)) {
    const row = lines.find((l) => l.split(',')[1] === t);
    if (!row || row.split(',')[5] !== x.cityName || row.split(',')[6] !== String(v)) fail(`the CSV row of ${t}: '${row}'`);
  }
  if (lines.some((l) => l.split(',')[4] !== String(x.city) && l !== lines[0])) fail('the CSV of a city holds other regions');
  // The same table as ledgerctl progress --csv of the same view: header,
  // words, numbers, percents, statuses (the pace of a running target within
  // one: it grows by the second).
  const mine = lines.map((l) => l.split(',').slice(0, 11));
  if (mine.length !== x.ctlCsv.length) fail(`the CSV has ${mine.length} lines, ledgerctl's ${x.ctlCsv.length}`);
  mine.forEach((r, i) => r.forEach((c, k) => {
    const want = x.ctlCsv[i][k];
    const near = k === 9 && i > 0 && Math.abs(Number(c) - Number(want)) <= 1;
    if (c !== want && !near) fail(`CSV line ${i + 1}, column ${k + 1}: the page '${c}', ledgerctl '${want}' (${lines[i]})`);
  }));
  // What the figures are as of, on every row (the time in the plan's zone,
  // as ledgerctl progress --csv has it, and the seq), and in the file's name.
  if (!lines[0].endsWith(',截至,序号')) fail(`the CSV header does not end with the as-of columns: '${lines[0]}'`);
  const lastSeq = await page.$eval('#last', (e) => e.dataset.seq);
  const lastText = await page.$eval('#last', (e) => e.textContent);
  for (const l of lines.slice(1)) {
    const c = l.split(',');
    const [at, seq] = c.slice(-2);
    if (!/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(at) || !(Number(seq) > 0) || Number(seq) > Number(lastSeq))
      fail(`the CSV row '${l}' does not say what it is as of (seq ${lastSeq})`);
    if (seq === lastSeq && !lastText.includes(at)) fail(`the CSV says ${at}, the page '${lastText}'`);
    // China time (+08:00, the plan's), whatever the browser's zone (UTC here).
    const china = Date.parse(at.replace(' ', 'T') + '+08:00');
    if (!(Math.abs(Date.now() - china) < 15 * 60000)) fail(`the CSV's time ${at} is not China time now`);
  }
  if (!/-\d{4}-\d\d-\d\d\.csv$/.test(csv.name)) fail(`the CSV's name '${csv.name}' has no day`);
  const svg = await download(page, () => page.click('button[data-chart="cities"][data-format="svg"]'));
  const svgText = svg.data.toString('utf8');
  if (!svgText.includes('<svg') || !svgText.includes(x.cityName) || !svgText.includes('fill="rgb(')) fail(`the SVG export: ${svgText.slice(0, 200)}`);
  const png = await download(page, () => page.click('button[data-chart="line"][data-format="png"]'));
  if (png.data.length < 1000 || png.data.toString('hex', 0, 8) !== '89504e470d0a1a0a') fail(`the PNG export (${png.data.length} bytes) is not a PNG`);
  say(`exports: ${csv.name} (${lines.length - 1} rows), ${svg.name}, ${png.name} (${png.data.length} bytes)`);

  // Back to the province.
  await page.click('#back');
  await waitValue(page, card(x.target), x.province, 'the province figure after going back', problems, 5000);

  // A past day (the month-end report): the figures as of its end, as
  // ledgerctl progress --at has them, not live, and the CSV says the day.
  await goto(page, `${base}/?plan=${x.plan}&year=${x.year}&target=${x.target}&day=${x.day}`);
  await waitValue(page, card(x.target), x.dayFigure, `the province figure as of ${x.day}`, problems);
  // ... and its curve ends there, at that figure.
  await page.waitForFunction((v) => { const e = document.querySelector('#line'); return e && e.dataset.total === v; },
    String(x.dayFigure), { timeout: 10000 })
    .catch(async () => fail(`the curve as of ${x.day} ends at ${await page.$eval('#line', (e) => e.dataset.total)}, wanted ${x.dayFigure}`));
  const dayLast = await page.$eval('#last', (e) => e.textContent);
  const dayLive = await page.$eval('#live', (e) => e.textContent);
  if (!dayLast.includes(`截至 ${x.day} 结束`) || dayLive !== '历史') fail(`a past day's view says '${dayLive}', '${dayLast}'`);
  const dcsv = await download(page, () => page.click('#export-csv'));
  const dlines = dcsv.data.toString('utf8').replace(/^\ufeff/, '').trim().split(/\r\n/);
  const drow = dlines.find((l) => l.split(',')[1] === x.target && l.split(',')[4] === '320000');
  if (!drow || drow.split(',')[6] !== String(x.dayFigure) || drow.split(',').slice(-2)[0] !== x.day || !dcsv.name.endsWith(`-${x.day}.csv`))
    fail(`the CSV of ${x.day}: ${dcsv.name}: '${drow}'`);
  say(`as of ${x.day}: ${x.target} ${x.dayFigure} ('${dayLast}'), ${dcsv.name}`);

  // An English browser gets English.
  const en = await openPage(browser, { locale: 'en-US' }, problems);
  await goto(en, `${base}/?plan=${x.plan}&year=${x.year}`);
  await waitValue(en, card(x.target), x.province, 'the province figure in English', problems);
  const enLang = await en.evaluate(() => document.documentElement.lang);
  const enH1 = await en.$eval('h1', (e) => e.textContent);
  if (enLang !== 'en' || enH1 !== 'Plan progress') fail(`an English browser gets lang '${enLang}', '${enH1}'`);
  if (problems.length) fail(problems.join('; '));
}

// --- down --------------------------------------------------------------------

async function down(browser) {
  const problems = [];
  const page = await openPage(browser, {}, problems, true);
  await goto(page, `${base}/`);
  await page.waitForSelector('#error:not([hidden])', { timeout: 15000 }).catch(() => fail('no message while the daemon is down'));
  const msg = await page.$eval('#error', (e) => e.textContent);
  if (!msg.includes('成员账本服务暂时没有响应')) fail(`the message is '${msg}'`);
  if (/tcp:|ipc:|127\.0\.0\.1|ERR_|\d{3,}/.test(msg)) fail(`the message shows an address or code: '${msg}'`);
  if (problems.length) fail(problems.join('; '));
  say(`the daemon is down: '${msg}'`);
}

// --- restart -----------------------------------------------------------------

// An open page while the daemon stops and starts again (the shell stops and
// starts it when told, through files in DIR): the page says the ledger does
// not answer and keeps the figures and the seq they are of, no longer
// "live"; once the daemon answers it says live again and shows the figure
// of an event recorded meanwhile, without a reload.
async function restart(browser) {
  const [plan, year, target, wantAfter, dir] = rest;
  if (!dir) fail('usage: restart BASE_URL PLAN YEAR TARGET WANT_AFTER DIR');
  const problems = [];
  const page = await openPage(browser, {}, problems, true); // requests fail while it is down
  await goto(page, `${base}/?plan=${encodeURIComponent(plan)}&year=${year}&target=${encodeURIComponent(target)}`);
  const actual = `article.card[data-target="${target}"] .actual`;
  await page.waitForSelector('#live.on', { timeout: 10000 }).catch(() => fail('the live indicator never turns on'));
  await page.waitForSelector(actual, { timeout: 10000 });
  const before = await page.$eval(actual, (e) => e.dataset.value);
  const seq = await page.$eval('#last', (e) => e.dataset.seq);
  await page.evaluate(() => { window.__noReload = 1; });
  fs.writeFileSync(path.join(dir, 'page-ready'), '');
  const t0 = Date.now();
  await page.waitForSelector('#error:not([hidden])', { timeout: 20000 })
    .catch(() => fail(`the open page still says '${'live'}' 20 s after the daemon stopped, and nothing else`));
  const ms = Date.now() - t0;
  const msg = await page.$eval('#error', (e) => e.textContent);
  if (!msg.includes('成员账本服务暂时没有响应')) fail(`the message is '${msg}'`);
  if (await page.$('#live.on')) fail('the page says live while the daemon is stopped');
  if ((await page.$eval('#last', (e) => e.dataset.seq)) !== seq) fail('the seq of the figures shown was lost');
  if ((await page.$eval(actual, (e) => e.dataset.value)) !== before) fail('the figure changed while the daemon was down');
  say(`the daemon stopped: said so after ${ms} ms ('${msg}'), figures of seq ${seq} kept`);
  fs.writeFileSync(path.join(dir, 'page-down'), '');
  await page.waitForSelector('#live.on', { timeout: 30000 }).catch(() => fail('the page does not say live once the daemon is back'));
  await waitValue(page, actual, wantAfter, 'after the restart and an append the card', [], 30000);
  if (!(await page.$eval('#error', (e) => e.hidden))) fail('the message stays once the daemon is back');
  if (!(await page.evaluate(() => window.__noReload === 1))) fail('the page was reloaded');
  say(`the daemon is back: live, ${target} ${before} -> ${wantAfter}`);
}

// node dashboard.js names BASE_URL ORG=NAME...: the rows of the transfers
// waiting read those names (a city's industry unions by their own names,
// not six times the city's).
async function names(browser) {
  const problems = [];
  const page = await openPage(browser, {}, problems);
  await goto(page, `${base}/`);
  const want = rest.map((a) => a.split('='));
  await page.waitForSelector(`#pending:not([hidden]) tr[data-org="${want[0][0]}"]`, { timeout: 10000 })
    .catch(() => fail('the transfers waiting for acceptance are not shown'));
  for (const [org, name] of want) {
    const got = await page.$eval(`#pending tr[data-org="${org}"] td`, (td) => td.textContent).catch(() => null);
    if (got !== name) fail(`${org}'s row of transfers waiting is named '${got}', wanted '${name}'`);
  }
  if (problems.length) fail(problems.join('; '));
  say(`rows named ${rest.join(', ')}`);
}

async function scoped(browser) {
  const [city, name] = rest;
  if (!name) fail('usage: scoped BASE_URL CITY NAME');
  const problems = [];
  const page = await openPage(browser, {}, problems);
  await goto(page, `${base}/`);
  await page.waitForSelector('article.card .actual', { timeout: 10000 }).catch(() => fail('no card shown'));
  const regions = await page.$$eval('#region option', (os) => os.map((o) => o.value));
  if (JSON.stringify(regions) !== JSON.stringify([city])) fail(`the regions offered are ${JSON.stringify(regions)}, wanted ["${city}"]`);
  const crumb = await page.$eval('#crumb-city', (e) => e.textContent);
  if (crumb !== name) fail(`the page opens on '${crumb}', not '${name}'`);
  if (await page.$eval('#back', (e) => !e.hidden && e.offsetParent !== null)) fail('the page offers a way back to the province');
  const other = await page.$(`#cities g.city:not([data-region="${city}"])`);
  if (other) {
    await other.click();
    await page.waitForTimeout(500);
    const q = await page.evaluate(() => new URLSearchParams(location.search).get('region'));
    if (q !== city) fail(`a click on another city's bar opened region ${q}`);
  }
  if (problems.length) fail(problems.join('; '));
  say(`a reader of ${name} (${city}): that city alone${other ? ', another bar clicked' : ''}`);
}

(async () => {
  const modes = { live, view, restart, down, names, scoped };
  if (!modes[mode] || !base) {
    console.error('usage: node dashboard.js live|view|restart|down|names|scoped BASE_URL ...');
    process.exit(2);
  }
  const browser = await launch();
  try {
    await modes[mode](browser);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  if (!process.exitCode) console.error(`dashboard.js ${mode}: FAIL: ${e.message}`);
  process.exitCode = 1;
});
