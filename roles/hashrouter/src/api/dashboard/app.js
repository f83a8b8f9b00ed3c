// The hashrouter dashboard: polls the node's JSON API (/api/v1/) and keeps the page in step
// with it, updating table cells in place rather than rebuilding the page.
// Every string from the API reaches the page through textContent, dataset or title, never as
// markup: worker names and user agents are chosen by the devices.
'use strict';

const REFRESH_MS = 3000;
const HISTORY_MS = 5000;
const FILTER_DEBOUNCE_MS = 300;
const PAGE_SIZE = 50;
const EVENTS = 50;
const COLOURS = ['#4e9bff', '#f5a524', '#3ecf8e', '#e5484d', '#b07cff', '#2dd4cf', '#f07ab8', '#c2c95a'];

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

// ---- formatting -------------------------------------------------------------------------

const PREFIXES = ['', 'k', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'];

/** `value` with an SI prefix: 1234567 → "1.23 MH/s". */
function si(value, unit = '') {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (value === 0) return `0 ${unit}`.trim();
  let v = Math.abs(value);
  let i = 0;
  while (v >= 999.5 && i < PREFIXES.length - 1) { v /= 1000; i++; }
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${value < 0 ? '−' : ''}${v.toFixed(digits)} ${PREFIXES[i]}${unit}`.trim();
}
const hs = (v) => si(v, 'H/s');
const count = (n) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '—');
const pct = (part, whole) => (whole > 0 ? `${Math.round((100 * part) / whole)}%` : '—');

/** Share difficulties are often far below 1 on a test farm. */
function difficulty(v) {
  if (!Number.isFinite(v)) return '—';
  if (v >= 1000) return si(v);
  return v >= 0.01 || v === 0 ? String(Number(v.toPrecision(3))) : v.toExponential(2);
}

function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  s = Math.round(s);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** Seconds of a route's target owed; negative is ahead. */
function owed(s) {
  if (s === null || s === undefined) return '—';
  const text = Math.abs(s) < 60 ? `${Math.abs(s).toFixed(1)} s` : duration(Math.abs(s));
  return s < -0.05 ? `ahead ${text}` : text;
}

const clock = (unix, seconds = true) =>
  new Date(unix * 1000).toLocaleTimeString('en-GB', seconds ? { hour12: false } : { hour: '2-digit', minute: '2-digit' });

// ---- tables -----------------------------------------------------------------------------

/**
 * Fills a cell from a value: a string, or {text, badge, sub, title, value}. `badge` is one of
 * our own class names, never text from the API. The cell is only touched when it changed.
 */
function setCell(td, c) {
  if (c === null || typeof c !== 'object') c = { text: c === undefined || c === null ? '—' : String(c) };
  const sig = JSON.stringify(c);
  if (td.sig === sig) return;
  td.sig = sig;
  const main = c.badge ? el('span', `badge badge-${c.badge}`, c.text) : document.createTextNode(c.text);
  td.replaceChildren(main);
  if (c.sub) td.append(el('span', 'sub', c.sub));
  if (c.title) td.title = c.title; else td.removeAttribute('title');
  if (c.value !== undefined) td.dataset.value = String(c.value);
}

/**
 * Keeps `table`'s rows in step with `items`: rows are keyed by `spec.key`, created once, moved
 * into order, and removed when their item goes.
 */
function syncTable(table, spec, items) {
  if (!table.rows_) {
    const head = table.createTHead();
    if (spec.groups) {
      const tr = head.insertRow();
      for (const g of spec.groups) {
        const th = el('th', g.label ? 'group' : '', g.label);
        th.colSpan = g.span;
        tr.append(th);
      }
    }
    const tr = head.insertRow();
    for (const col of spec.columns) {
      const th = el('th', col.num ? 'num' : '', col.label);
      if (col.sort) { th.dataset.sort = col.sort; th.classList.add('sortable'); }
      tr.append(th);
    }
    table.createTBody();
    const foot = table.createTFoot().insertRow().insertCell();
    foot.colSpan = spec.columns.length;
    foot.className = 'muted empty';
    foot.textContent = spec.empty || 'nothing yet';
    table.rows_ = new Map();
  }
  const body = table.tBodies[0];
  const keep = new Set();
  items.forEach((item, i) => {
    const key = String(spec.key(item));
    keep.add(key);
    let tr = table.rows_.get(key);
    if (!tr) {
      tr = document.createElement('tr');
      tr.dataset.key = key;
      for (const col of spec.columns) {
        const td = tr.insertCell();
        td.dataset.col = col.id;
        if (col.num) td.className = 'num';
      }
      table.rows_.set(key, tr);
    }
    spec.columns.forEach((col, j) => setCell(tr.cells[j], col.cell(item)));
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
  });
  for (const [key, tr] of table.rows_) {
    if (!keep.has(key)) { tr.remove(); table.rows_.delete(key); }
  }
  table.tFoot.hidden = items.length > 0;
}

const rate = (v) => ({ text: hs(v), value: v });
const ofAllocated = (w, field) => ({ text: hs(w[field]), sub: pct(w[field], w.allocated_hs), value: w[field] });

const ROUTES = {
  key: (r) => r.name,
  empty: 'no routes',
  columns: [
    { id: 'name', label: 'Route', cell: (r) => ({ text: r.name, sub: r.is_default && r.name !== 'default' ? 'default route' : r.retired ? 'retired' : '' }) },
    { id: 'upstream', label: 'Upstream', cell: (r) => ({ text: r.upstream.connected ? 'up' : 'down', badge: r.upstream.connected ? 'ok' : 'bad', title: r.upstream.last_error || '' }) },
    { id: 'endpoint', label: 'Endpoint', cell: (r) => ({ text: r.upstream.endpoint || '—', title: r.upstream.last_error || '' }) },
    { id: 'on_backup', label: 'Backup', cell: (r) => (r.upstream.on_backup ? { text: 'on backup', badge: 'warn' } : '—') },
    { id: 'jobs_from', label: 'Jobs from', cell: (r) => ({ text: r.jobs_from, sub: r.job_declaration ? r.job_declaration.state.replace(/_/g, ' ') : '' }) },
    { id: 'target', label: 'Target', num: true, cell: (r) => rate(r.target_hs) },
    { id: 'seen_10m', label: 'Seen 10 min', num: true, cell: (r) => rate(r.last_10m.seen_hs) },
    { id: 'acked_10m', label: 'Acked 10 min', num: true, cell: (r) => rate(r.last_10m.acked_hs) },
    { id: 'owed', label: 'Owed', num: true, cell: (r) => ({ text: owed(r.owed_s), value: r.owed_s ?? 0 }) },
    { id: 'shares', label: 'Pool acked / rej.', num: true, cell: (r) => `${count(r.upstream.acked_shares)} / ${count(r.upstream.rejected_shares)}` },
    { id: 'devices', label: 'Devices', num: true, cell: (r) => count(r.devices) },
  ],
};

const DELIVERY = { on_target: ['on target', 'ok'], behind: ['behind', 'bad'], inactive: ['inactive', 'muted'] };
const windowColumns = (name) => [
  { id: `${name}_allocated`, label: 'allocated', num: true, cell: (a) => rate(a[name].allocated_hs) },
  { id: `${name}_seen`, label: 'seen', num: true, cell: (a) => ofAllocated(a[name], 'seen_hs') },
  { id: `${name}_acked`, label: 'acked', num: true, cell: (a) => ofAllocated(a[name], 'acked_hs') },
];
const ALLOCATIONS = {
  key: (a) => a.id,
  empty: 'no allocations: the whole farm mines for the default route',
  groups: [{ label: '', span: 6 }, { label: '10 min', span: 3 }, { label: '1 hour', span: 3 }, { label: 'contract', span: 3 }],
  columns: [
    { id: 'id', label: 'Allocation', cell: (a) => ({ text: a.id, sub: a.source, title: a.destination ? `destination ${a.destination}` : '' }) },
    { id: 'route', label: 'Route', cell: (a) => a.route },
    { id: 'delivery', label: 'Delivery', cell: (a) => { const [t, b] = DELIVERY[a.delivery] || [a.delivery, 'muted']; return { text: t, badge: b }; } },
    { id: 'requested', label: 'Requested', num: true, cell: (a) => ({ text: hs(a.requested_hs), sub: a.fraction !== null && a.fraction !== undefined ? `${+(a.fraction * 100).toFixed(2)}% of farm` : '', value: a.requested_hs }) },
    { id: 'granted', label: 'Granted', num: true, cell: (a) => ({ text: hs(a.granted_hs), sub: pct(a.granted_hs, a.requested_hs), value: a.granted_hs }) },
    { id: 'owed', label: 'Owed', num: true, cell: (a) => ({ text: owed(a.owed_s), value: a.owed_s ?? 0 }) },
    ...windowColumns('last_10m'),
    ...windowColumns('last_1h'),
    ...windowColumns('contract'),
  ],
};

const KIND_LABEL = { sv1: 'SV1', sv2_standard: 'SV2 std', sv2_extended: 'SV2 ext' };
const DEVICES = {
  key: (d) => d.id,
  empty: 'no devices match',
  columns: [
    { id: 'id', sort: 'id', label: 'ID', cell: (d) => d.id.toString(16).padStart(8, '0') },
    { id: 'worker', sort: 'worker', label: 'Worker', cell: (d) => d.worker ?? '—' },
    { id: 'user_agent', label: 'Agent', cell: (d) => d.user_agent ?? '—' },
    { id: 'kind', sort: 'kind', label: 'Kind', cell: (d) => KIND_LABEL[d.kind] || d.kind },
    { id: 'route', sort: 'route', label: 'Route', cell: (d) => d.route },
    { id: 'hashrate_hs', sort: 'hashrate_hs', label: 'Hashrate', num: true, cell: (d) => rate(d.hashrate_hs) },
    { id: 'difficulty', sort: 'difficulty', label: 'Difficulty', num: true, cell: (d) => difficulty(d.difficulty) },
    { id: 'accepted', sort: 'accepted', label: 'Accepted', num: true, cell: (d) => count(d.accepted) },
    { id: 'rejected', sort: 'rejected', label: 'Rejected', num: true, cell: (d) => count(d.rejected) },
    { id: 'stale', sort: 'stale', label: 'Stale', num: true, cell: (d) => count(d.stale) },
    { id: 'forwarded', sort: 'forwarded', label: 'Forwarded', num: true, cell: (d) => count(d.forwarded) },
    { id: 'connected_s', sort: 'connected_s', label: 'Connected', num: true, cell: (d) => duration(d.connected_s) },
    { id: 'last_share_s', sort: 'last_share_s', label: 'Last share', num: true, cell: (d) => (d.last_share_s === null ? 'none yet' : `${duration(d.last_share_s)} ago`) },
  ],
};

const KIND_BADGE = { upstream_up: 'ok', failover: 'warn', upstream_down: 'bad', oversubscribed: 'warn', solo: 'warn', block: 'good' };
const EVENTS_SPEC = {
  key: (e) => e.seq,
  empty: 'no events yet',
  columns: [
    { id: 'at', label: 'Time', cell: (e) => clock(e.at_unix) },
    { id: 'kind', label: 'Kind', cell: (e) => ({ text: e.kind.replace(/_/g, ' '), badge: KIND_BADGE[e.kind] || 'info' }) },
    { id: 'route', label: 'Route', cell: (e) => e.route ?? '—' },
    { id: 'message', label: 'Message', cell: (e) => e.message },
  ],
};

// ---- API --------------------------------------------------------------------------------

async function getJson(path, acceptable = []) {
  let response;
  try {
    response = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new Error(`cannot reach the node (${e.message})`);
  }
  if (!response.ok && !acceptable.includes(response.status)) {
    const body = await response.json().catch(() => null);
    throw new Error(`${path}: ${body && body.error ? body.error : `HTTP ${response.status}`}`);
  }
  return response.json();
}

const errors = new Map();
function setError(source, error) {
  if (error) errors.set(source, error.message || String(error)); else errors.delete(source);
  const banner = $('error');
  banner.hidden = errors.size === 0;
  banner.textContent = errors.size ? `API error: ${[...new Set(errors.values())].join('; ')}` : '';
  $('updated').classList.toggle('stale', errors.size > 0);
}

// ---- health -----------------------------------------------------------------------------

function renderHealth(h) {
  $('health').dataset.status = h.status;
  const badge = $('health-status');
  badge.textContent = h.status;
  badge.className = `badge badge-${{ ok: 'ok', degraded: 'warn', starting: 'info' }[h.status] || 'bad'}`;
  const problems = h.components.filter((c) => c.status !== 'ok');
  $('health-summary').textContent = problems.length
    ? `${problems.length} of ${h.components.length} components need attention`
    : `all ${h.components.length} components ok`;
  const list = $('health-problems');
  const sig = JSON.stringify(problems);
  if (list.sig !== sig) {
    list.sig = sig;
    list.replaceChildren(...problems.map((c) => {
      const li = el('li');
      li.append(el('strong', '', c.name), ` ${c.status}`);
      if (c.detail) li.append(`: ${c.detail}`);
      if (c.stale_s !== null && c.stale_s !== undefined) li.append(` (last poll ${duration(c.stale_s)} ago)`);
      return li;
    }));
  }
  const startup = $('health-startup');
  startup.hidden = !h.startup;
  if (h.startup) {
    const { phase, done, total } = h.startup;
    $('health-startup-text').textContent = `starting: ${phase} ${count(done)}${total ? ` of ${count(total)}` : ''}`;
    const bar = $('health-startup-progress');
    if (total) { bar.max = total; bar.value = done; } else bar.removeAttribute('value');
  }
  $('version').textContent = `v${h.version}`;
  $('uptime').textContent = `up ${duration(h.uptime_s)}`;
}

// ---- chart ------------------------------------------------------------------------------

const colours = new Map();
const colourOf = (name) => {
  if (!colours.has(name)) colours.set(name, COLOURS[colours.size % COLOURS.length]);
  return colours.get(name);
};

/** Tick values from 0 covering `max`, at a step of 1, 2, 2.5 or 5 × 10^k. */
function niceTicks(max) {
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [0];
  while (ticks[ticks.length - 1] < max) ticks.push(ticks.length * step);
  return ticks;
}

function syncLegend(routes) {
  const legend = $('legend');
  const names = new Set(routes.map((r) => r.name));
  for (const item of [...legend.children]) if (!names.has(item.dataset.route)) item.remove();
  const have = new Set([...legend.children].map((item) => item.dataset.route));
  for (const r of routes) {
    if (have.has(r.name)) continue;
    const item = el('span', 'legend-item');
    item.dataset.route = r.name;
    const swatch = el('i', 'swatch');
    swatch.style.background = colourOf(r.name);
    item.append(swatch, el('span', '', r.name));
    legend.append(item);
  }
}

let lastHistory = null;
function drawChart(history) {
  lastHistory = history;
  const canvas = $('chart');
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const style = getComputedStyle(document.body);
  const ink = style.getPropertyValue('--muted').trim();
  const grid = style.getPropertyValue('--grid').trim();
  ctx.font = '12px system-ui, sans-serif';
  let points = 0;
  let tMin = Infinity;
  let tMax = -Infinity;
  let yMax = 0;
  for (const r of history.routes) {
    for (const p of r.points) {
      points++;
      tMin = Math.min(tMin, p.at_unix);
      tMax = Math.max(tMax, p.at_unix);
      yMax = Math.max(yMax, p.allocated_hs, p.seen_hs, p.acked_hs);
    }
  }
  canvas.dataset.points = String(points);
  if (!points) {
    ctx.fillStyle = ink;
    ctx.textAlign = 'center';
    ctx.fillText('waiting for the first samples…', w / 2, h / 2);
    return;
  }
  // A young node's few points fill the width; one point alone gets two intervals of room.
  tMin = Math.min(tMin, tMax - 2 * history.interval_s);
  const ticks = niceTicks(yMax || 1);
  const yTop = ticks[ticks.length - 1];
  const left = 78;
  const right = 14;
  const top = 10;
  const bottom = 24;
  const x = (t) => left + ((t - tMin) / (tMax - tMin)) * (w - left - right);
  const y = (v) => top + (1 - v / yTop) * (h - top - bottom);

  ctx.lineWidth = 1;
  ctx.strokeStyle = grid;
  ctx.fillStyle = ink;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const v of ticks) {
    ctx.beginPath();
    ctx.moveTo(left, Math.round(y(v)) + 0.5);
    ctx.lineTo(w - right, Math.round(y(v)) + 0.5);
    ctx.stroke();
    ctx.fillText(hs(v), left - 8, y(v));
  }
  const span = tMax - tMin;
  const step = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((s) => span / s <= 7) || 3600;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (let t = Math.ceil(tMin / step) * step; t <= tMax; t += step) {
    ctx.beginPath();
    ctx.moveTo(Math.round(x(t)) + 0.5, top);
    ctx.lineTo(Math.round(x(t)) + 0.5, h - bottom);
    ctx.stroke();
    const label = clock(t, step < 60);
    const half = ctx.measureText(label).width / 2;
    ctx.fillText(label, Math.min(Math.max(x(t), left + half), w - half), h - bottom + 6);
  }

  const series = [['allocated_hs', [7, 5], 1.5, 1], ['acked_hs', [2, 3], 1.5, 0.85], ['seen_hs', [], 2, 1]];
  for (const r of history.routes) {
    ctx.strokeStyle = colourOf(r.name);
    ctx.fillStyle = colourOf(r.name);
    for (const [field, dash, width, alpha] of series) {
      ctx.setLineDash(dash);
      ctx.lineWidth = width;
      ctx.globalAlpha = alpha;
      ctx.beginPath();
      r.points.forEach((p, i) => (i ? ctx.lineTo(x(p.at_unix), y(p[field])) : ctx.moveTo(x(p.at_unix), y(p[field]))));
      ctx.stroke();
      if (r.points.length === 1) {
        ctx.beginPath();
        ctx.arc(x(r.points[0].at_unix), y(r.points[0][field]), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }
  ctx.setLineDash([]);
  ctx.globalAlpha = 1;
}

async function refreshHistory() {
  try {
    const history = await getJson('/api/v1/history');
    syncLegend(history.routes);
    drawChart(history);
    setError('history', null);
  } catch (e) {
    setError('history', e);
  }
}

// ---- devices ----------------------------------------------------------------------------

const devices = { offset: 0, limit: PAGE_SIZE, sort: 'id', order: 'asc', q: '', route: '' };
let devicesRequest = 0;

async function loadDevices() {
  const params = new URLSearchParams({ offset: devices.offset, limit: devices.limit, sort: devices.sort, order: devices.order });
  if (devices.q) params.set('q', devices.q);
  if (devices.route) params.set('route', devices.route);
  const mine = ++devicesRequest;
  const page = await getJson(`/api/v1/devices?${params}`);
  if (mine !== devicesRequest) return; // a newer query was sent meanwhile
  if (page.matched > 0 && page.offset >= page.matched) {
    devices.offset = Math.floor((page.matched - 1) / devices.limit) * devices.limit;
    return loadDevices();
  }
  const table = $('devices');
  syncTable(table, DEVICES, page.devices);
  for (const th of table.tHead.querySelectorAll('th[data-sort]')) {
    if (th.dataset.sort === devices.sort) th.setAttribute('aria-sort', devices.order === 'asc' ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
  const shown = page.devices.length;
  let range = shown ? `${page.offset + 1}–${page.offset + shown} of ${count(page.matched)}` : `0 of ${count(page.matched)}`;
  if (page.matched !== page.total) range += ` (${count(page.total)} connected)`;
  $('device-range').textContent = range;
  $('device-prev').disabled = page.offset === 0;
  $('device-next').disabled = page.offset + shown >= page.matched;
}

const reloadDevices = () => loadDevices().then(() => setError('devices', null), (e) => setError('devices', e));

function syncRouteOptions(routes) {
  const select = $('device-route');
  const names = new Set(routes.map((r) => r.name));
  for (const option of [...select.options]) {
    if (option.value && !names.has(option.value) && option.value !== devices.route) option.remove();
  }
  const have = new Set([...select.options].map((o) => o.value));
  for (const name of names) {
    if (have.has(name)) continue;
    const option = el('option', '', name);
    option.value = name;
    select.append(option);
  }
}

function wireDevices() {
  syncTable($('devices'), DEVICES, []);
  $('devices').tHead.addEventListener('click', (event) => {
    const th = event.target.closest('th[data-sort]');
    if (!th) return;
    if (devices.sort === th.dataset.sort) devices.order = devices.order === 'asc' ? 'desc' : 'asc';
    else { devices.sort = th.dataset.sort; devices.order = th.classList.contains('num') ? 'desc' : 'asc'; }
    devices.offset = 0;
    reloadDevices();
  });
  let debounce;
  $('device-filter').addEventListener('input', (event) => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      devices.q = event.target.value.trim();
      devices.offset = 0;
      reloadDevices();
    }, FILTER_DEBOUNCE_MS);
  });
  $('device-route').addEventListener('change', (event) => {
    devices.route = event.target.value;
    devices.offset = 0;
    reloadDevices();
  });
  $('device-prev').addEventListener('click', () => { devices.offset = Math.max(0, devices.offset - devices.limit); reloadDevices(); });
  $('device-next').addEventListener('click', () => { devices.offset += devices.limit; reloadDevices(); });
}

// ---- polling ----------------------------------------------------------------------------

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    // Each part is shown as soon as it answers: while the node starts, health answers first.
    const parts = await Promise.allSettled([
      getJson('/api/v1/health', [503]).then(renderHealth),
      getJson('/api/v1/routes').then((routes) => {
        syncTable($('routes'), ROUTES, routes.routes);
        syncRouteOptions(routes.routes);
        const over = $('oversubscribed');
        over.hidden = !routes.oversubscribed;
        over.textContent = routes.oversubscribed ? `Over-subscribed: ${routes.oversubscribed}` : '';
      }),
      getJson('/api/v1/allocations').then((allocations) => {
        $('farm-rate').textContent = `farm ${hs(allocations.farm_hashrate_hs)}`;
        syncTable($('allocations'), ALLOCATIONS, allocations.allocations);
      }),
      getJson(`/api/v1/events?limit=${EVENTS}`).then((events) => syncTable($('events'), EVENTS_SPEC, events.events)),
      loadDevices(),
    ]);
    const failed = parts.find((p) => p.status === 'rejected');
    if (failed) throw failed.reason;
    setError('refresh', null);
    $('updated').textContent = `last updated ${clock(Date.now() / 1000)}`;
  } catch (e) {
    setError('refresh', e);
  } finally {
    refreshing = false;
  }
}

function start() {
  wireDevices();
  refresh();
  refreshHistory();
  setInterval(refresh, REFRESH_MS);
  setInterval(refreshHistory, HISTORY_MS);
  window.addEventListener('resize', () => lastHistory && drawChart(lastHistory));
}

start();
