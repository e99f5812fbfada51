// app.js — the dashboard page of ledger-dashboard: plain JS and SVG.
//
// State comes from GET api/progress (the whole report of a plan) and is kept
// current by the SSE stream api/events: each message is a ProgressReport for
// one region (or, when the gateway polls, for all) with seq and prev_seq. A
// message whose prev_seq is newer than the last seq seen on its topic means
// one was missed (the daemon's PUB feed drops for slow subscribers): the page
// then re-reads the whole report. Rows are replaced only by newer seqs.
// Paths are relative, so the page also works under a reverse-proxy prefix.
//
// The view: a plan, a year, a region (the whole province, or one city: the
// drill-down) and a selected target. The URL holds them (?plan=&year=&region=
// &target=), so a view can be bookmarked or sent. Words come from i18n.js.
'use strict';

const $ = (id) => document.getElementById(id);
const SVGNS = 'http://www.w3.org/2000/svg';
const params = new URLSearchParams(location.search);

const state = {
  plans: [], plan: null, info: null,
  rows: new Map(),        // "target|year|region" -> row (with _seq)
  snapshotSeq: 0,         // seq of the last full read
  lastSeen: {},           // topic -> seq of the last message on it
  series: new Map(),      // "target|year|region" -> {data (ProgressSeries), seq, loading}
  year: 0, target: null, region: 0,
  day: '',                // YYYY-MM-DD: the figures as of that day's end ('' live)
  behind: false,          // the events behind the selected figure are shown
  es: null, retry: null,
  fetching: false, again: false,
  lastSeq: 0, lastAt: 0, updates: 0, gaps: 0,
};

// --- helpers ---------------------------------------------------------------

function el(tag, attrs, ...kids) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.setAttribute('class', v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

// GET url as JSON. A failure carries what the page needs to say it plainly:
// .status (0: the gateway did not answer) and .code (the gateway's).
async function getJSON(url) {
  let r;
  try {
    r = await fetch(url, { cache: 'no-store' });
  } catch (e) {
    const err = new Error('network');
    err.status = 0;
    throw err;
  }
  let j = null;
  try { j = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {
    const err = new Error((j && j.error) || `${r.status}`);
    err.status = r.status;
    err.code = j && j.code;
    throw err;
  }
  return j;
}

// The sentence for a failed request: never a URL or an error code.
function plainError(e) {
  if (!e.status) return tr('gateway-down');
  if (e.status === 503 || e.status === 502 || e.code === 'ERR_UNAVAILABLE') return tr('daemon-down');
  if (e.status === 404) return tr('no-such-plan');
  return tr('read-failed');
}

function showError(msg) {
  const e = $('error');
  e.textContent = msg || '';
  e.hidden = !msg;
}

const num = (v) => Number(v || 0);
const rowKey = (target, year, region) => `${target}|${year}|${region}`;
const isRatio = (t) => t && t.measure === 'ratio';
const isMoney = (t) => t && t.measure === 'sum:amount_fen';
const LOCALE = tr('html-lang');

function fmtNum(v, digits = 0) {
  return Number(v).toLocaleString(LOCALE, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}
// A figure in the target's unit: fen as yuan, counts with separators.
function fmt(t, v) {
  return isMoney(t) ? '¥' + fmtNum(Math.trunc(num(v) / 100)) : fmtNum(num(v));
}
function unitWord(t) {
  if (!t || isMoney(t) || !t.unit) return '';
  const u = tr('units')[t.unit];
  return u !== undefined ? u : LANG === 'en' ? t.unit : '';
}
function share(row) {
  return num(row.denominator) ? (num(row.actual) * 100) / num(row.denominator) : 0;
}
const statusWord = (st) => tr('status')[st] || st;
function cityName(code) {
  if (!code || code === state.info.region) return tr('whole-province');
  const c = (state.info.cities || []).find((x) => x.code === code);
  return c ? c.name : String(code);
}
// A time in the plan's own zone, to the second (as ledgerctl prints it),
// whatever the browser's: a projector's machine set to UTC showed the
// figures' time eight hours off.
function fmtTime(us) {
  return new Date(num(us) / 1000 + planOffsetMs()).toISOString().slice(0, 19).replace('T', ' ');
}
// A date in the plan's own time zone: its period starts at a local
// midnight, which gives the offset (+08:00 for China) whatever the browser's.
function planOffsetMs() {
  const day = 86400000, from = num(state.info && state.info.from) / 1000;
  return (day - (from % day)) % day;
}
function fmtDate(ms) { return new Date(ms + planOffsetMs()).toISOString().slice(0, 10); }
// A chart's width in its own units: the element's width in pixels, so that
// its text keeps its size on a phone as on a desktop.
function chartWidth(svg) { return Math.max(320, Math.min(900, Math.round(svg.clientWidth || 600))); }
const viewRegion = () => state.region || state.info.region;

// --- state -----------------------------------------------------------------

function yearFor(t) { return t.window === 'yearly' ? state.year : 0; }
// An average a year (年均) is judged on the plan's whole figure against the
// target times the years run: its words say so, with the years ("3", "2.5").
const isAverage = (t) => t && t.window === 'yearly_average';
function yearsText(t) {
  const y = num(t.years);
  return Math.abs(y - Math.round(y)) < 0.05 ? String(Math.round(y)) : y.toFixed(1);
}
function windowWord(t) {
  return isAverage(t) ? tr('window-average', yearsText(t)) : tr(t.window === 'yearly' ? 'window-yearly' : 'window-cumulative');
}

function applyReport(rep, full) {
  if (rep.plan && rep.plan.id === state.plan) state.info = rep.plan;
  const seq = num(rep.seq);
  if (full) {
    state.snapshotSeq = seq;
    state.lastSeen = {};
  }
  for (const row of rep.rows || []) {
    const k = rowKey(row.target_id, num(row.year), num(row.region));
    const old = state.rows.get(k);
    if (old && old._seq > seq) continue;
    row._seq = seq;
    row._at = num(rep.at);
    state.rows.set(k, row);
  }
  if (seq >= state.lastSeq) {
    state.lastSeq = seq;
    state.lastAt = num(rep.at);
  }
  render();
}

// The figure's history from the ledger (GET api/series): what each day
// added, with the events behind it by kind. Read again when the figure moves.
async function loadSeries(t, y, region) {
  const k = rowKey(t.id, y, region);
  const row = state.rows.get(k);
  const s = state.series.get(k);
  const want = row ? row._seq : 0;
  if (!row || (s && (s.loading || s.seq >= want))) return;
  // A past day: the history up to it (none when the window had not begun).
  let to = '';
  if (state.day) {
    const lo = y ? `${y}-01-01` : fmtDate(num(state.info.from) / 1000);
    const hi = y ? `${y}-12-31` : fmtDate(num(state.info.to) / 1000 - 1);
    if (state.day < lo) {
      state.series.set(k, { data: null, seq: want, loading: false });
      return;
    }
    if (state.day < hi) to = `&to=${state.day}`;
  }
  state.series.set(k, { ...(s || {}), loading: true });
  const plan = state.plan, day = state.day;
  let j = null;
  try {
    j = await getJSON(`api/series?plan=${encodeURIComponent(plan)}&target=${encodeURIComponent(t.id)}` +
      `&region=${region}` + (y ? `&year=${y}` : '') + to);
  } catch (e) {
    showError(plainError(e));
  }
  if (plan !== state.plan || day !== state.day) return;
  state.series.set(k, j ? { data: j, seq: Math.max(num(j.seq), want), loading: false } : { ...(s || {}), seq: want, loading: false });
  render();
}

// The transfers waiting for acceptance (GET api/pending: the gateway's
// --org, else the province federation of the plan's region, and its
// children, each the releases to accept there and those sent from there,
// with the oldest's release date), read with every full read and every
// 30 s. Hidden when there is none (no federation registered for the region).
const PENDING_LATE_DAYS = 14;
async function loadPending() {
  const plan = state.plan;
  let j = null;
  try { j = await getJSON('api/pending?plan=' + encodeURIComponent(plan)); } catch (e) { return; }
  if (plan !== state.plan) return;
  state.pending = j;
  renderPending();
}

function renderPending() {
  const box = $('pending');
  const j = state.pending;
  box.hidden = !j || !(j.orgs || []).length;
  if (box.hidden) return;
  const at = num(j.at);
  const days = (t) => Math.max(0, Math.floor((at - num(t)) / 86400e6));
  const age = (t) => {
    if (t === undefined) return el('td', { class: 'n', text: '—' });
    const d = days(t);
    return el('td', { class: 'n' + (d > PENDING_LATE_DAYS ? ' late' : ''), 'data-days': d, text: tr('pending-days', d) });
  };
  const rows = [el('tr', {}, el('th', { text: tr('pending-org') }), el('th', { text: tr('pending-in') }), el('th', { text: tr('pending-oldest') }),
    el('th', { text: tr('pending-out') }), el('th', { text: tr('pending-oldest') }))];
  for (const o of j.orgs) {
    const code = num(o.region);
    const city = (state.info.cities || []).find((c) => c.code === code);
    // The plan's name of a city for the organisation of the top row and for a child in another
    // region (the province's cities); a child in its parent's region (a city's industry unions)
    // by its own name: six rows read 南京市 for a city's reader before 2026-12-07 22:50.
    const top = num((j.orgs.find((x) => num(x.depth) === 0) || {}).region);
    const name = num(o.depth) === 0 && code === state.info.region ? tr('whole-province')
      : city && (num(o.depth) === 0 || code !== top) ? city.name : o.name || o.org_id;
    rows.push(el('tr', { 'data-org': o.org_id, 'data-region': code, class: state.region && code === state.region ? 'chosen' : '' },
      el('td', { text: name }),
      el('td', { class: 'n', 'data-value': num(o.waiting_in), text: fmtNum(num(o.waiting_in)) }), age(o.oldest_in),
      el('td', { class: 'n', 'data-value': num(o.waiting_out), text: fmtNum(num(o.waiting_out)) }), age(o.oldest_out)));
  }
  $('pending-table').replaceChildren(...rows);
  $('pending-note').textContent = tr('pending-note', fmtTime(at));
}

async function refetch() {
  if (state.fetching) { state.again = true; return; }
  state.fetching = true;
  const plan = state.plan, day = state.day;
  let rep = null;
  try {
    rep = await getJSON('api/progress?plan=' + encodeURIComponent(plan) + (state.day ? '&day=' + state.day : ''));
  } catch (e) {
    showError(plainError(e));
  }
  state.fetching = false;
  if (rep && plan === state.plan && day === state.day) { showError(''); applyReport(rep, true); loadPending(); }
  if (state.again) { state.again = false; refetch(); }
}

function onProgress(ev) {
  if (state.day) return;  // a past day's figures: the live ones are not its
  let rep;
  try { rep = JSON.parse(ev.data); } catch (e) { return; }
  const topic = rep.topic || 'all';
  const known = state.lastSeen[topic] !== undefined ? state.lastSeen[topic] : state.snapshotSeq;
  state.lastSeen[topic] = Math.max(known, num(rep.seq));
  state.updates++;
  if (num(rep.prev_seq) > known) {  // a message on this topic was missed
    state.gaps++;
    refetch();
  }
  applyReport(rep, false);
}

function setLive(on, text) {
  const e = $('live');
  if (on && state.day) { on = false; text = tr('past-day'); }  // a past day is not live
  e.className = 'live ' + (on ? 'on' : 'off');
  e.textContent = text || tr(on ? 'live' : 'reconnecting');
}

function connect() {
  if (state.es) state.es.close();
  clearTimeout(state.retry);
  const es = new EventSource('api/events?plan=' + encodeURIComponent(state.plan));
  state.es = es;
  es.addEventListener('open', () => { setLive(true); refetch(); });  // re-read what a break missed
  es.addEventListener('hello', (ev) => {
    try { const h = JSON.parse(ev.data); state.liveWord = h.live === 'poll' ? 'live-polled' : 'live'; setLive(true, tr(state.liveWord)); } catch (e) { /* */ }
  });
  // The gateway stays up when the ledger goes, and so does this stream: it
  // says when the ledger stops and starts answering. The figures shown, and
  // the seq and time they are of, stay; once back, what was missed is read.
  es.addEventListener('daemon', (ev) => {
    let d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    if (d.up) {
      setLive(true, tr(state.liveWord || 'live'));
      showError('');
      refetch();
    } else {
      setLive(false, tr('offline'));
      showError(tr('daemon-down'));
    }
  });
  es.addEventListener('progress', onProgress);
  es.addEventListener('resync', () => { state.gaps++; refetch(); });
  es.addEventListener('error', () => {
    setLive(false);
    if (es.readyState === EventSource.CLOSED && es === state.es)  // refused: retry ourselves
      state.retry = setTimeout(connect, 3000);
  });
}

// The view in the URL, for bookmarks and the back button.
function saveView() {
  const q = new URLSearchParams(location.search);
  q.set('plan', state.plan);
  q.set('year', state.year);
  if (state.target) q.set('target', state.target);
  if (state.region) q.set('region', state.region); else q.delete('region');
  if (state.day) q.set('day', state.day); else q.delete('day');
  history.replaceState(null, '', '?' + q.toString());
}

// A reader of one city (the daemon's default_region) stays on its city: the
// province's and the other cities' figures are not its to read.
function ownCity() {
  const own = num(state.defaultRegion);
  return own && (state.info.cities || []).some((c) => c.code === own) ? own : 0;
}

function selectRegion(code) {
  const known = (state.info.cities || []).some((c) => c.code === code);
  state.region = ownCity() || (known ? code : 0);
  $('region').value = state.region;
  saveView();
  render();
  window.scrollTo({ top: 0 });
}

async function selectPlan(id) {
  state.plan = id;
  state.info = state.plans.find((p) => p.id === id);
  state.rows.clear();
  state.series.clear();
  state.behind = false;
  state.lastSeen = {};
  state.snapshotSeq = state.lastSeq = state.lastAt = 0;
  const info = state.info;
  const ys = $('year');
  ys.replaceChildren();
  for (let y = info.from_year; y <= info.to_year; y++) ys.append(el('option', { value: y, text: tr('year-n', y) }));
  const want = num(params.get('year')) || new Date().getFullYear();
  state.year = Math.min(Math.max(want, info.from_year), info.to_year);
  ys.value = state.year;
  const rs = $('region');
  // A reader of one city opens on its city and is offered no other (ownCity).
  const own = ownCity();
  rs.replaceChildren(...(own ? [] : [el('option', { value: 0, text: tr('whole-province') })]),
    ...(info.cities || []).filter((c) => !own || c.code === own)
      .map((c) => el('option', { value: c.code, text: c.name })));
  const wantRegion = own || num(params.get('region'));
  state.region = (info.cities || []).some((c) => c.code === wantRegion) ? wantRegion : 0;
  rs.value = state.region;
  // A past day's figures (the month-end report), or live (empty).
  const today = fmtTime(Date.now() * 1000).slice(0, 10), first = fmtDate(num(info.from) / 1000);
  const last = fmtDate(num(info.to) / 1000 - 1);
  const dy = $('day');
  dy.min = first;
  dy.max = today < last ? today : last;
  const wantDay = params.get('day') || '';
  state.day = /^\d{4}-\d\d-\d\d$/.test(wantDay) && wantDay >= dy.min && wantDay <= dy.max ? wantDay : '';
  dy.value = state.day;
  const targets = info.targets || [];
  state.target = (targets.find((t) => t.id === (state.target || params.get('target'))) || targets[0] || {}).id || null;
  $('plan-title').textContent = info.title || info.id;
  $('plan-meta').textContent = tr('plan-meta', info.from_year, info.to_year, (info.cities || []).length);
  saveView();
  render();
  connect();
  await refetch();
}

// --- rendering -------------------------------------------------------------

function render() {
  if (!state.info) return;
  const city = state.region !== 0;
  $('crumbs').hidden = !city;
  $('back').hidden = !!ownCity(); // no province view to go back to
  $('crumb-city').textContent = city ? cityName(state.region) : '';
  renderCards();
  renderDetail();
  if (state.pending) renderPending();
  $('last').textContent = state.day && state.lastSeq
    ? tr('day-view', state.day, fmtNum(state.lastSeq))
    : state.lastSeq
    ? tr('last-update', fmtNum(state.lastSeq), fmtTime(state.lastAt), state.updates, state.gaps)
    : tr('no-update');
  $('last').dataset.seq = state.lastSeq;
}

function renderCards() {
  const cards = [];
  const region = viewRegion();
  for (const t of state.info.targets || []) {
    const row = state.rows.get(rowKey(t.id, yearFor(t), region));
    const st = row ? row.status : 'NOT_STARTED';
    const pct = row ? num(row.percent) : 0;
    const hasTarget = row && row.target !== undefined;
    let figures, pace = null;
    const pick = () => { state.target = t.id; saveView(); render(); };
    const showBehind = (ev) => {
      ev.preventDefault();
      ev.stopPropagation();
      state.target = t.id;
      state.behind = true;
      saveView();
      render();
      $('behind').scrollIntoView({ block: 'nearest' });
    };
    if (!row) {
      figures = el('div', { class: 'figures', text: '…' });
    } else if (isRatio(t)) {
      figures = el('div', { class: 'figures' },
        el('a', { href: '#behind', class: 'actual', 'data-value': row.actual, title: tr('behind-link'), onclick: showBehind, text: share(row).toFixed(1) + '%' }),
        el('span', { class: 'of', text: ' ' + tr('share-of', fmtNum(row.denominator), num(row.target)) }));
    } else {
      figures = el('div', { class: 'figures' },
        el('a', { href: '#behind', class: 'actual', 'data-value': row.actual, title: tr('behind-link'), onclick: showBehind, text: fmt(t, row.actual) }),
        el('span', { class: 'of', text: hasTarget ? ` / ${fmt(t, row.target)} ${unitWord(t)}` : ` ${unitWord(t)} · ${tr('no-city-target')}` }));
      if (num(row.target)) pace = Math.min(100, (num(row.expected) * 100) / num(row.target));
    }
    const fill = el('div', { class: 'fill' });
    fill.style.width = Math.min(100, Math.max(0, pct)) + '%';
    const bar = el('div', { class: 'bar', title: `${pct.toFixed(1)}%` }, fill);
    if (pace !== null) {
      const m = el('div', { class: 'pace', title: tr('legend-pace') });
      m.style.left = pace + '%';
      bar.append(m);
    }
    const needs = row && row.needed_per_day > 0 && !isRatio(t) && st !== 'ACHIEVED' && st !== 'MISSED'
      ? tr('needs', fmt(t, Math.ceil(row.needed_per_day))) : '';
    // Where the figure should be by now, as a number (the bar's mark), while
    // the window runs short of the target.
    const running = st === 'AHEAD' || st === 'ON_TRACK' || st === 'BEHIND';
    const paceText = row && hasTarget && running && !isRatio(t) && row.expected !== undefined
      ? tr('pace', fmt(t, row.expected)) : '';
    const card = el('article', {
      class: `card st-${st}` + (t.id === state.target ? ' selected' : ''),
      'data-target': t.id, tabindex: 0, title: tr('show-city'),
      onclick: pick,
      onkeydown: (ev) => { if (ev.key === 'Enter') pick(); },
    },
    el('h3', { text: t.title || t.id }),
    figures, bar,
    el('div', { class: 'meta' },
      el('span', { class: 'status', text: hasTarget ? `${statusWord(st)} · ${pct.toFixed(1)}%` : statusWord(st) }),
      el('span', { class: 'needs', text: needs })),
    el('div', { class: 'meta' },
      el('span', { class: 'window', text: t.window === 'yearly' ? tr('year-n', state.year)
        : isAverage(t) ? tr('average-card', fmt(t, t.target), yearsText(t)) : tr('until', fmtDate(num(state.info.to) / 1000 - 1)) }),
      el('span', { class: 'pace-n', 'data-value': paceText ? num(row.expected) : '', text: paceText })));
    cards.push(card);
  }
  $('cards').replaceChildren(...cards);
}

function renderDetail() {
  const t = (state.info.targets || []).find((x) => x.id === state.target);
  if (!t) { $('detail').hidden = true; return; }
  $('detail').hidden = false;
  $('detail-title').textContent = (t.title || t.id) + (t.window === 'yearly' ? ` — ${tr('year-n', state.year)}` : '') +
    ` — ${cityName(viewRegion())}`;
  renderCities(t);
  loadSeries(t, yearFor(t), viewRegion());
  renderLine(t);
  renderBehind(t);
}

function renderCities(t) {
  const svg = $('cities');
  const y = yearFor(t);
  const rows = (state.info.cities || []).map((c) => ({ c, row: state.rows.get(rowKey(t.id, y, c.code)) }));
  const val = (r) => (r.row ? (isRatio(t) ? share(r.row) : num(r.row.actual)) : 0);
  const tgt = (r) => (r.row && r.row.target !== undefined ? num(r.row.target) : 0);
  const max = Math.max(1, ...rows.map((r) => Math.max(val(r), tgt(r))));
  const W = chartWidth(svg), left = 90, right = Math.min(130, W / 4), h = 20, H = rows.length * h + 10;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('aria-label', tr('per-city'));
  const kids = [];
  rows.forEach((r, i) => {
    const y0 = 5 + i * h, w = ((W - left - right) * val(r)) / max;
    const st = r.row ? r.row.status : 'NOT_STARTED';
    const chosen = state.region === r.c.code;
    const go = () => selectRegion(chosen ? 0 : r.c.code);
    // A city's row is one link: its name, its bar and its figure.
    const g = el('svg:g', { class: 'city' + (chosen ? ' chosen' : ''), 'data-region': r.c.code, tabindex: 0, role: 'link', onclick: go,
      onkeydown: (ev) => { if (ev.key === 'Enter') go(); } });
    g.append(el('svg:rect', { x: 0, y: y0, width: W, height: h, class: 'hit' }));
    g.append(el('svg:text', { x: left - 6, y: y0 + 14, 'text-anchor': 'end', class: 'name', text: r.c.name }));
    g.append(el('svg:rect', { x: left, y: y0 + 3, width: Math.max(0, w), height: h - 6, class: `bar b-${st}`, 'data-region': r.c.code, 'data-value': r.row ? r.row.actual : 0 }));
    if (tgt(r)) {
      const x = left + ((W - left - right) * tgt(r)) / max;
      g.append(el('svg:line', { x1: x, x2: x, y1: y0 + 1, y2: y0 + h - 1, class: 'tick' }));
    }
    const label = r.row
      ? (isRatio(t) ? `${share(r.row).toFixed(1)}%` : fmt(t, r.row.actual)) +
        (tgt(r) ? ` / ${isRatio(t) ? tgt(r) + '%' : fmt(t, tgt(r))}` : '')
      : '…';
    g.append(el('svg:text', { x: left + Math.max(0, w) + 4, y: y0 + 14, class: 'dim', text: label }));
    kids.push(g);
  });
  svg.replaceChildren(...kids);
}

// The figure over its window: the cumulative sum of what each day added
// (a ratio: the share so far), a dot per day with events, against the pace
// (the target spread evenly over the window; a ratio: the target share).
function renderLine(t) {
  const svg = $('line');
  const y = yearFor(t);
  const region = viewRegion();
  const row = state.rows.get(rowKey(t.id, y, region));
  const s = state.series.get(rowKey(t.id, y, region));
  const W = chartWidth(svg), H = 260, L = 70, R = 15, T = 15, B = 30;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  if (!row) { svg.replaceChildren(); return; }
  const from = num(row.window_from) / 1000, to = num(row.window_to) / 1000;
  const ratio = isRatio(t);
  $('line-caption').textContent = tr(ratio ? 'share-over-time' : 'cumulative');
  $('legend-actual').textContent = tr(ratio ? 'legend-share' : 'legend-actual');
  svg.setAttribute('aria-label', $('line-caption').textContent);
  const DAY = 86400000;
  const pts = [];
  let sum = 0, den = 0;
  for (const p of (s && s.data && s.data.points) || []) {
    sum += num(p.value);
    den += num(p.denominator);
    // By the end of the day, the figure had reached this.
    pts.push({ t: Math.min(num(p.at) / 1000 + DAY, to), v: ratio ? (den ? (sum * 100) / den : 0) : sum });
  }
  svg.dataset.points = pts.length;
  svg.dataset.total = ratio ? sum + '/' + den : sum;
  const target = num(row.target);
  const maxV = Math.max(1, ratio ? 100 : target, ...pts.map((p) => p.v)) * 1.05;
  const X = (ms) => L + ((W - L - R) * (Math.min(Math.max(ms, from), to) - from)) / Math.max(1, to - from);
  const Y = (v) => H - B - ((H - T - B) * v) / maxV;
  const kids = [
    el('svg:line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }),
    el('svg:line', { x1: L, x2: L, y1: T, y2: H - B, class: 'axis' }),
    el('svg:text', { x: L, y: H - 10, class: 'dim', text: fmtDate(from) }),
    el('svg:text', { x: W - R, y: H - 10, class: 'dim', 'text-anchor': 'end', text: fmtDate(to - 1) }),
    el('svg:text', { x: L - 6, y: H - B, 'text-anchor': 'end', class: 'dim', text: ratio ? '0%' : '0' }),
  ];
  if (row.target !== undefined) {
    kids.push(el('svg:text', { x: L - 6, y: Y(target) + 4, 'text-anchor': 'end', class: 'dim', text: ratio ? target + '%' : fmt(t, target) }));
    kids.push(ratio
      ? el('svg:line', { x1: X(from), x2: X(to), y1: Y(target), y2: Y(target), class: 'pace' })
      : el('svg:line', { x1: X(from), x2: X(to), y1: Y(0), y2: Y(target), class: 'pace' }));
  }
  const now = Date.now();
  if (now > from && now < to) {
    kids.push(el('svg:line', { x1: X(now), x2: X(now), y1: T, y2: H - B, class: 'axis' }));
    kids.push(el('svg:text', { x: X(now), y: T + 10, class: 'dim', 'text-anchor': 'middle', text: tr('chart-today') }));
  }
  // A cumulative figure starts at 0 with the window; a share has no value before its first event.
  const line = (ratio ? [] : [{ t: from, v: 0 }]).concat(pts);
  if (!ratio && now > from) line.push({ t: Math.min(now, to), v: sum });
  if (line.length > 1)
    kids.push(el('svg:polyline', { class: 'actual', points: line.map((p) => `${X(p.t).toFixed(1)},${Y(p.v).toFixed(1)}`).join(' ') }));
  for (const p of pts) kids.push(el('svg:circle', { class: 'dot', cx: X(p.t).toFixed(1), cy: Y(p.v).toFixed(1), r: pts.length > 60 ? 2 : 3 }));
  if (pts.length) {
    const p = pts[pts.length - 1];
    kids.push(el('svg:text', { x: Math.min(X(p.t) + 6, W - 80), y: Y(p.v) - 6, text: ratio ? p.v.toFixed(1) + '%' : fmt(t, p.v) }));
  }
  svg.replaceChildren(...kids);
  $('line-note').textContent = !s || !s.data ? '' : pts.length ? tr('series-note', pts.length) : tr('chart-empty');
}

// The events behind the selected figure, by kind: those it counts, and the
// corrections (voids, amendments) that changed it.
function renderBehind(t) {
  const box = $('behind');
  const region = viewRegion();
  const s = state.series.get(rowKey(t.id, yearFor(t), region));
  box.hidden = !state.behind;
  if (!state.behind) return;
  $('behind-title').textContent = tr('behind-title', `${t.title || t.id} — ${cityName(region)}` +
    (t.window === 'yearly' ? ` — ${tr('year-n', state.year)}` : ''));
  const rows = [el('tr', {}, el('th', { text: tr('behind-kind') }), el('th', { text: tr('behind-count') }))];
  for (const k of (s && s.data && s.data.kinds) || []) {
    const word = tr('kinds')[k.kind] || k.kind;
    rows.push(el('tr', { 'data-kind': k.kind }, el('td', { text: word }), el('td', { class: 'n', 'data-value': num(k.count), text: fmtNum(k.count) })));
  }
  $('behind-table').replaceChildren(...rows);
  $('behind-note').textContent = s && s.data ? tr('behind-note') : '';
}

// --- export ----------------------------------------------------------------

// The figures of the view as rows: every target of the year for the region
// shown, and in the whole-province view each city's as well.
function viewTable() {
  const out = [tr('csv')];
  const regions = state.region ? [state.region] : [state.info.region, ...(state.info.cities || []).map((c) => c.code)];
  for (const t of state.info.targets || []) {
    for (const code of regions) {
      const row = state.rows.get(rowKey(t.id, yearFor(t), code));
      if (!row) continue;
      const ratio = isRatio(t);
      const money = (v) => (isMoney(t) ? (num(v) / 100).toFixed(2) : num(v));
      out.push([
        t.title || t.id, t.id, windowWord(t),
        num(row.year) || tr('total'), code, code === state.info.region ? tr('whole-province') : cityName(code),
        ratio ? share(row).toFixed(1) + '%' : money(row.actual),
        row.target === undefined ? '' : ratio ? num(row.target) + '%' : money(row.target),
        row.target === undefined ? '' : num(row.percent).toFixed(1),
        row.expected === undefined || ratio ? '' : money(row.expected),
        row.target === undefined ? '' : statusWord(row.status),
        state.day || fmtTime(row._at), row._seq,
      ]);
    }
  }
  return out;
}

function viewName() {
  return [state.plan, state.year, state.region ? cityName(state.region) : ''];
}
// The CSV's name also says the day of its figures.
function tableName() {
  return [...viewName(), state.day || (state.lastAt ? fmtTime(state.lastAt).slice(0, 10) : '')];
}

async function onExportChart(ev) {
  const b = ev.currentTarget;
  const which = b.dataset.chart, format = b.dataset.format;
  try {
    const caption = b.closest('figcaption').querySelector('span').textContent.replace(/（.*）|\(.*\)/, '');
    await exportChart($(which), format, fileName([...viewName(), state.target, which], format),
      `${$('detail-title').textContent} · ${caption}`);
  } catch (e) {
    showError(tr('export-failed') + e.message);
  }
}

// --- start -----------------------------------------------------------------

// The plans first; until the gateway and the daemon answer, a sentence
// says so and the page asks again every 3 s.
async function init() {
  let pl;
  try {
    pl = await getJSON('api/plans');
  } catch (e) {
    showError(plainError(e));
    setLive(false, tr('offline'));
    setTimeout(init, 3000);
    return;
  }
  state.plans = pl.plans || [];
  state.pendingOrg = pl.pending_org || null;
  state.defaultRegion = pl.default_region || 0;
  setInterval(loadPending, 30000);
  if (!state.plans.length) { showError(tr('no-plans')); return; }
  showError('');
  const sel = $('plan');
  sel.replaceChildren(...state.plans.map((p) => el('option', { value: p.id, text: p.title || p.id })));
  const want = params.get('plan') || pl.default_plan;
  const id = state.plans.some((p) => p.id === want) ? want : state.plans[0].id;
  sel.value = id;
  sel.addEventListener('change', () => selectPlan(sel.value));
  $('year').addEventListener('change', () => { state.year = num($('year').value); saveView(); render(); });
  $('region').addEventListener('change', () => selectRegion(num($('region').value)));
  $('day').addEventListener('change', () => {
    const v = $('day').value;
    state.day = v >= $('day').min && v <= $('day').max ? v : '';
    state.rows.clear();
    state.series.clear();
    state.snapshotSeq = state.lastSeq = state.lastAt = 0;
    saveView();
    render();
    const up = $('live').classList.contains('on') || $('live').textContent === tr('past-day');
    if (up) setLive(true, tr(state.liveWord || 'live'));
    refetch();
  });
  $('back').addEventListener('click', (ev) => { ev.preventDefault(); selectRegion(0); });
  $('behind-close').addEventListener('click', () => { state.behind = false; render(); });
  $('export-csv').addEventListener('click', () => exportCSV(viewTable(), fileName(tableName(), 'csv')));
  for (const b of document.querySelectorAll('button[data-chart]')) b.addEventListener('click', onExportChart);
  await selectPlan(id);
}

applyWords();
let resizing = null;
window.addEventListener('resize', () => { clearTimeout(resizing); resizing = setTimeout(render, 150); });
init();
