// i18n.js — the dashboard's own words, in Chinese (the default) and English.
//
// The language follows the browser (navigator.languages: the first that is
// Chinese or English; Chinese when neither is listed), or ?lang=zh|en. The
// plans' own titles and city names are data and are shown as they are.
'use strict';

const WORDS = {
  zh: {
    'html-lang': 'zh-CN',
    title: '计划进展',
    heading: '计划进展',
    plan: '计划',
    year: '年份',
    region: '地区',
    'whole-province': '全省',
    connecting: '连接中',
    live: '实时',
    'live-polled': '实时（轮询）',
    reconnecting: '重新连接中',
    offline: '离线',
    'no-update': '尚无更新',
    day: '截至日期',
    'past-day': '历史',
    'day-view': (day, seq) => `截至 ${day} 结束的数字（当天及以前发生的事件）· 第 ${seq} 条事件 · 清空日期看实时`,
    'last-update': (seq, time, n, gaps) => `第 ${seq} 条事件 · ${time} · ${n} 次实时更新` + (gaps ? ` · 重读 ${gaps} 次` : ''),
    'export-csv': '导出表格（CSV）',
    back: '← 返回全省',
    'per-city': '各市进展（点击城市查看详情）',
    cumulative: '累计进展与目标进度',
    'share-over-time': '比例变化与目标比例',
    'legend-actual': '实际累计',
    'legend-share': '实际比例',
    'legend-pace': '目标进度',
    footer: '数据来自成员账本，实时更新',
    'plan-meta': (from, to, n) => `${from}—${to}年 · 全省及${n}个市`,
    'year-n': (y) => `${y}年`,
    'until': (d) => `目标期限 ${d}`,
    pace: (v) => `按进度应达 ${v}`,
    'of-target': (t) => `目标 ${t}`,
    'share-of': (n, t) => `共 ${n} 人 · 目标 ${t}%`,
    needs: (v) => `每天还需 ${v}`,
    'show-city': '查看各市',
    'no-city-target': '未分解到各市',
    status: {
      NOT_STARTED: '未开始', AHEAD: '超前', ON_TRACK: '符合进度', BEHIND: '落后',
      ACHIEVED: '已完成', MISSED: '未完成', NO_TARGET: '无目标',
    },
    units: {
      members: '人', workers: '人', events: '场', policies: '份', 'person-times': '人次',
      checks: '次', enterprises: '家', unions: '家', stations: '个', centres: '个', percent: '%',
    },
    'daemon-down': '成员账本服务暂时没有响应，页面上的数字可能不是最新的。页面会自动重试。',
    'gateway-down': '无法连接仪表盘服务。请检查网络，页面会自动重试。',
    'no-plans': '账本服务目前没有加载任何计划。',
    'no-such-plan': '找不到这个计划。',
    'read-failed': '读取进展失败，页面会自动重试。',
    'chart-today': '今天',
    'chart-empty': '这一期间没有记录。',
    'series-note': (n) => `按天统计：${n} 天有记录。`,
    'series-live': '曲线来自账本的历史记录。',
    'behind-link': '查看构成这个数字的事件',
    close: '关闭',
    'behind-title': (name) => `构成这个数字的事件 — ${name}`,
    'behind-kind': '事件',
    'behind-count': '条数',
    'behind-note': '计入的事件按更正后的内容统计；被作废的事件不再计入，被更正的事件按更正后的内容计入。',
    kinds: {
      member_joined: '计入的入会登记', service_delivered: '计入的服务记录', activity_held: '计入的活动记录',
      station_opened: '计入的服务站点', org_registered: '计入的组织成立',
      event_voided: '已作废，不再计入', event_amended: '经过更正后计入',
    },
    csv: ['指标', '指标编号', '统计期', '年份', '地区代码', '地区', '实际', '目标', '完成率（%）', '按进度应达', '状态', '截至', '序号'],
    'window-yearly': '每年',
    'window-cumulative': '累计',
    'window-average': (n) => `年均，${n}年`,
    'pending-title': '待接收的组织关系转接',
    'pending-org': '地区',
    'pending-in': '待本地接收',
    'pending-out': '转出待对方接收',
    'pending-oldest': '最早一笔已等',
    'pending-days': (n) => `${n}天`,
    'pending-note': (t) => `转出单位已出具、接收单位尚未接收的转接，截至 ${t}；等待超过 14 天的标红。`,
    'average-card': (v, n) => `年均 ${v}，共${n}年`,
    total: '累计',
    'export-failed': '导出失败：',
  },
  en: {
    'html-lang': 'en',
    title: 'Plan progress',
    heading: 'Plan progress',
    plan: 'Plan',
    year: 'Year',
    region: 'Region',
    'whole-province': 'Whole province',
    connecting: 'connecting',
    live: 'live',
    'live-polled': 'live (polled)',
    reconnecting: 'reconnecting',
    offline: 'offline',
    'no-update': 'no update yet',
    day: 'As of day',
    'past-day': 'past day',
    'day-view': (day, seq) => `figures as of the end of ${day} (the events up to that day) · event ${seq} · clear the day for live`,
    'last-update': (seq, time, n, gaps) => `event ${seq} · ${time} · ${n} live update${n === 1 ? '' : 's'}` + (gaps ? ` · ${gaps} re-read${gaps === 1 ? '' : 's'}` : ''),
    'export-csv': 'Export table (CSV)',
    back: '← Whole province',
    'per-city': 'Per city (click a city for its figures)',
    cumulative: 'Cumulative, against the target pace',
    'share-over-time': 'Share over time, against the target share',
    'legend-actual': 'actual, cumulative',
    'legend-share': 'actual share',
    'legend-pace': 'target pace',
    footer: 'Figures from the membership ledger, live',
    'plan-meta': (from, to, n) => `${from}–${to} · the province and ${n} cities`,
    'year-n': (y) => `${y}`,
    'until': (d) => `due ${d}`,
    pace: (v) => `pace ${v}`,
    'of-target': (t) => `target ${t}`,
    'share-of': (n, t) => `of ${n} · target ${t}%`,
    needs: (v) => `needs ${v}/day`,
    'show-city': 'show per city',
    'no-city-target': 'not shared out per city',
    status: {
      NOT_STARTED: 'not started', AHEAD: 'ahead', ON_TRACK: 'on track', BEHIND: 'behind',
      ACHIEVED: 'achieved', MISSED: 'missed', NO_TARGET: 'no target',
    },
    units: {},
    'daemon-down': 'The ledger is not answering just now, so the figures may be out of date. The page keeps trying.',
    'gateway-down': 'The dashboard cannot be reached. Check the network; the page keeps trying.',
    'no-plans': 'The ledger has no plan loaded.',
    'no-such-plan': 'There is no such plan.',
    'read-failed': 'The progress could not be read; the page keeps trying.',
    'chart-today': 'today',
    'chart-empty': 'Nothing was recorded in this period.',
    'series-note': (n) => `Per day: ${n} day${n === 1 ? '' : 's'} with records.`,
    'series-live': 'The curve comes from the ledger\'s history.',
    'behind-link': 'the events behind this figure',
    close: 'Close',
    'behind-title': (name) => `The events behind this figure — ${name}`,
    'behind-kind': 'Events',
    'behind-count': 'number',
    'behind-note': 'Events count as corrected: a voided event no longer counts, an amended one counts as amended.',
    kinds: {
      member_joined: 'joins counted', service_delivered: 'services counted', activity_held: 'activities counted',
      station_opened: 'stations counted', org_registered: 'organisations counted',
      event_voided: 'voided, no longer counted', event_amended: 'counted as amended',
    },
    csv: ['target', 'target id', 'window', 'year', 'region code', 'region', 'actual', 'target', 'percent', 'expected by now', 'status', 'as of', 'seq'],
    'window-yearly': 'yearly',
    'window-cumulative': 'cumulative',
    'window-average': (n) => `average per year, ${n} years`,
    'pending-title': 'Transfers waiting for acceptance',
    'pending-org': 'Region',
    'pending-in': 'to accept here',
    'pending-out': 'sent, awaiting the other side',
    'pending-oldest': 'oldest waiting',
    'pending-days': (n) => `${n} day${n === 1 ? '' : 's'}`,
    'pending-note': (t) => `Released by the source, not yet accepted by the destination, as of ${t}; those waiting over 14 days in red.`,
    'average-card': (v, n) => `average ${v} a year, ${n} years`,
    total: 'total',
    'export-failed': 'Export failed: ',
  },
};

const LANG = (() => {
  const want = new URLSearchParams(location.search).get('lang');
  if (want && WORDS[want]) return want;
  for (const l of navigator.languages || [navigator.language || '']) {
    const k = String(l).toLowerCase().slice(0, 2);
    if (WORDS[k]) return k;
  }
  return 'zh';
})();

// The word for key; a function's arguments follow.
function tr(key, ...args) {
  const w = WORDS[LANG][key] !== undefined ? WORDS[LANG][key] : WORDS.zh[key];
  return typeof w === 'function' ? w(...args) : w;
}

// The page's fixed words in the chosen language, and <html lang>.
function applyWords() {
  document.documentElement.lang = tr('html-lang');
  document.title = tr('title');
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = tr(e.dataset.i18n);
}
