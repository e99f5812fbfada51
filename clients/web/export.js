// export.js — the dashboard's downloads: a table as CSV, a chart as SVG or PNG.
//
// Everything is made in the page (no request to the gateway): the CSV from
// the figures shown, the SVG from the chart's own element with its computed
// styles written into it (so that it looks the same outside the page), the
// PNG by drawing that SVG on a canvas at twice its size.
'use strict';

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// A file name from parts: letters, digits, CJK, '-' and '.' only.
function fileName(parts, ext) {
  return parts.filter((p) => p !== '' && p != null).map((p) => String(p).replace(/[^\p{L}\p{N}.-]+/gu, '-')).join('-') + '.' + ext;
}

// rows: arrays of cells (the first the header). RFC 4180 quoting; a BOM so
// that spreadsheet programs read UTF-8.
function exportCSV(rows, name) {
  const cell = (v) => {
    const s = v == null ? '' : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  const text = rows.map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
  download(new Blob(['\ufeff' + text], { type: 'text/csv;charset=utf-8' }), name);
}

const STYLE_PROPS = ['fill', 'stroke', 'stroke-width', 'stroke-dasharray', 'opacity', 'font-family', 'font-size', 'font-weight'];

// A standalone copy of svg, titled: size, white background, and the computed styles
// as presentation attributes (fill="…"): the page's stylesheet does not go
// with the file, and its Content-Security-Policy forbids style attributes.
function standaloneSVG(svg, title) {
  const copy = svg.cloneNode(true);
  const src = [svg, ...svg.querySelectorAll('*')];
  const dst = [copy, ...copy.querySelectorAll('*')];
  src.forEach((e, i) => {
    const cs = getComputedStyle(e);
    for (const p of STYLE_PROPS) dst[i].setAttribute(p, cs.getPropertyValue(p));
    dst[i].removeAttribute('class');
    dst[i].removeAttribute('tabindex');
  });
  const NS = 'http://www.w3.org/2000/svg', TOP = title ? 28 : 0;
  const box = svg.viewBox.baseVal;
  const w = box && box.width ? box.width : svg.clientWidth;
  const h = (box && box.height ? box.height : svg.clientHeight) + TOP;
  // The chart moves down under its title.
  const g = document.createElementNS(NS, 'g');
  g.setAttribute('transform', `translate(0,${TOP})`);
  g.append(...copy.childNodes);
  copy.append(g);
  copy.setAttribute('xmlns', NS);
  copy.setAttribute('width', w);
  copy.setAttribute('height', h);
  copy.setAttribute('viewBox', `0 0 ${w} ${h}`);
  const bg = document.createElementNS(NS, 'rect');
  bg.setAttribute('width', '100%');
  bg.setAttribute('height', '100%');
  bg.setAttribute('fill', '#fff');
  copy.insertBefore(bg, copy.firstChild);
  if (title) {
    const t = document.createElementNS(NS, 'text');
    t.setAttribute('x', 8);
    t.setAttribute('y', 19);
    t.setAttribute('font-size', '13px');
    t.setAttribute('font-weight', '700');
    t.setAttribute('fill', '#1d232b');
    t.textContent = title;
    bg.after(t);
  }
  return { text: '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(copy), w, h };
}

async function exportChart(svg, format, name, title) {
  const { text, w, h } = standaloneSVG(svg, title);
  if (format === 'svg') {
    download(new Blob([text], { type: 'image/svg+xml' }), name);
    return;
  }
  const img = new Image();
  img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(text);
  await img.decode();
  const scale = 2;
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(w * scale);
  canvas.height = Math.round(h * scale);
  const g = canvas.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.drawImage(img, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((ok) => canvas.toBlob(ok, 'image/png'));
  if (!blob) throw new Error('canvas');
  download(blob, name);
}
