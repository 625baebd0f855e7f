// halton-meter dashboard. Plain JS, no dependencies, same-origin requests only (the CSP allows
// nothing else). Routing uses the History API: the daemon answers /, /projects, /projects/<slug>
// and /requests/<id> with this same page, and render() draws the view the location names.
// Every piece of data reaches the DOM as a text node or an attribute value, never as markup.

const MINOR_PER_USD = 100_000;
const PAGE_SIZE = 25;
const DAYS = 30;
const SVG_NS = 'http://www.w3.org/2000/svg';
const KNOWN_PROVIDERS = ['anthropic', 'openai', 'gemini', 'xai', 'selftest'];

// ---------------------------------------------------------------- formatting

/**
 * Dollars to the cent; below one cent, to the minor unit, so a small spend never reads $0.00.
 * Integer arithmetic on minor units (1 USD = 100,000): cents round half up exactly, with no
 * binary-fraction surprises.
 */
function usd(minor) {
  if (minor === null || minor === undefined) return '—';
  const abs = Math.abs(minor);
  const small = abs !== 0 && abs < MINOR_PER_USD / 100;
  const digits = small ? 5 : 2;
  const q = Math.round(abs / 10 ** (5 - digits));
  const whole = Math.floor(q / 10 ** digits);
  let frac = String(q % 10 ** digits).padStart(digits, '0');
  if (small && frac.endsWith('0')) frac = frac.slice(0, 4);
  return `${minor < 0 ? '-' : ''}$${whole.toLocaleString('en-US')}.${frac}`;
}

/** Every digit there is (1 minor unit = $0.00001), at least to the cent: for one request's cost. */
function usdExact(minor) {
  if (minor === null || minor === undefined) return '—';
  const abs = Math.abs(minor);
  const frac = String(abs % MINOR_PER_USD).padStart(5, '0').replace(/0{1,3}$/, '');
  return `${minor < 0 ? '-' : ''}$${Math.floor(abs / MINOR_PER_USD).toLocaleString('en-US')}.${frac}`;
}

const int = (n) => (n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));

const dollars = (v) => `$${v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 9 })}`;

const percent = (ratio) => (typeof ratio === 'number' ? `${(ratio * 100).toFixed(1)}%` : '—');

/** Times as the API stores them (UTC), without the milliseconds. */
const when = (iso) => (typeof iso === 'string' ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : '—');

// ---------------------------------------------------------------- dates (UTC, like the API's by_day)

const dayOf = (d) => d.toISOString().slice(0, 10);

function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return dayOf(d);
}

function periods(now = new Date()) {
  const today = dayOf(now);
  const monthStart = `${today.slice(0, 8)}01`;
  const lastMonthStart = dayOf(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)));
  const since30 = addDays(today, -(DAYS - 1));
  return { today, monthStart, lastMonthStart, since30 };
}

function lastDays(until, n) {
  const out = [];
  for (let i = n - 1; i >= 0; i--) out.push(addDays(until, -i));
  return out;
}

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  el.append(...flat(children));
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) el.setAttribute(k, String(v));
  el.append(...flat(children));
  return el;
}

// Strings become text nodes through append(), which is what keeps data out of the markup.
const flat = (xs) => xs.flat(Infinity).filter((x) => x !== null && x !== undefined && x !== false).map((x) => (typeof x === 'number' ? String(x) : x));

const projectHref = (slug, query = '') => `/projects/${encodeURIComponent(slug)}${query}`;
const requestHref = (id) => `/requests/${encodeURIComponent(id)}`;

function card(key, label, value, sub, title) {
  return h('div', { class: 'card', 'data-card': key }, h('div', { class: 'label' }, label), h('div', { class: 'value num', title }, value), h('div', { class: 'sub' }, sub));
}

/** cols: [{label, num?, get(row) -> string | Node}] */
function table(id, cols, rows, empty, foot) {
  if (rows.length === 0) return h('p', { class: 'muted', id }, empty);
  const cls = (c) => (c.num ? 'num' : null);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { id },
      h('thead', null, h('tr', null, cols.map((c) => h('th', { class: cls(c), scope: 'col' }, c.label)))),
      h('tbody', null, rows.map((r) => h('tr', null, cols.map((c) => h('td', { class: cls(c) }, c.get(r)))))),
      foot ? h('tfoot', null, h('tr', null, foot.map((f, i) => h('td', { class: cls(cols[i]) }, f)))) : null,
    ),
  );
}

function section(title, ...body) {
  return h('section', null, h('h2', null, title), body);
}

const providerClass = (p) => (KNOWN_PROVIDERS.includes(p) ? `prov-${p}` : 'prov-other');

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // A body that is not JSON is reported by its status below.
  }
  if (!res.ok) throw new ApiError(body?.error?.message ?? `HTTP ${res.status}`, res.status);
  return body;
}

// ---------------------------------------------------------------- the chart

/** Daily spend stacked by provider, drawn at the container's width (and redrawn when it changes). */
function spendChart(days, byDayByProvider) {
  const providers = [...new Set(byDayByProvider.map((r) => r.provider))].sort();
  const cost = new Map(byDayByProvider.map((r) => [`${r.date}|${r.provider}`, r.cost_usd_minor_units]));
  const totals = days.map((d) => providers.reduce((sum, p) => sum + (cost.get(`${d}|${p}`) ?? 0), 0));
  const box = h('div', { class: 'chart', id: 'chart' });
  const legend = h(
    'ul',
    { class: 'legend' },
    providers.map((p) => h('li', null, h('span', { class: `swatch ${providerClass(p)}` }), p)),
  );

  const draw = () => {
    const width = Math.max(280, Math.floor(box.clientWidth));
    const height = 220;
    const pad = { top: 10, right: 8, bottom: 24, left: 64 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const max = Math.max(...totals);
    const step = niceStep(max / 4);
    const top = Math.max(step * Math.ceil(max / step), step);
    const y = (v) => pad.top + plotH - (v / top) * plotH;
    const slot = plotW / days.length;
    const barW = Math.max(2, slot * 0.72);
    const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Spend per day for the last ${days.length} days, by provider` });
    for (let v = 0; v <= top + 1e-9; v += step) {
      svg.append(s('line', { class: 'grid', x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }));
      // Whole dollars once the steps are: "$1,200" fits the axis where "$1,200.00" would not.
      const label = step >= MINOR_PER_USD ? `$${int(v / MINOR_PER_USD)}` : usd(v);
      svg.append(s('text', { class: 'axis', x: pad.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, label));
    }
    const labelEvery = Math.ceil(days.length / Math.max(2, Math.floor(plotW / 56)));
    days.forEach((d, i) => {
      const x = pad.left + i * slot + (slot - barW) / 2;
      const g = s('g', { class: 'bar', 'data-date': d, 'data-total': totals[i] });
      const parts = [];
      let acc = 0;
      for (const p of providers) {
        const c = cost.get(`${d}|${p}`) ?? 0;
        if (c <= 0) continue;
        parts.push(`${p} ${usd(c)}`);
        g.append(s('rect', { class: providerClass(p), x, width: barW, y: y(acc + c), height: Math.max(0.5, y(acc) - y(acc + c)) }));
        acc += c;
      }
      // A hit area the full height of the plot, so a zero day still shows its tooltip.
      g.prepend(s('rect', { class: 'hit', x: pad.left + i * slot, width: slot, y: pad.top, height: plotH }));
      g.append(s('title', null, `${d}: ${usd(totals[i])}${parts.length ? ` (${parts.join(', ')})` : ''}`));
      svg.append(g);
      if ((days.length - 1 - i) % labelEvery === 0) {
        // The last label ends at the plot's edge instead of being centred past it.
        const last = i === days.length - 1;
        svg.append(s('text', { class: 'axis', x: pad.left + i * slot + (last ? slot : slot / 2), y: height - 6, 'text-anchor': last ? 'end' : 'middle' }, d.slice(5)));
      }
    });
    box.replaceChildren(svg);
  };

  // Drawn once attached (it needs a width), then again whenever the width changes.
  let lastWidth = -1;
  new ResizeObserver(() => {
    if (box.clientWidth !== lastWidth && box.isConnected) {
      lastWidth = box.clientWidth;
      draw();
    }
  }).observe(box);
  return h('div', null, box, providers.length ? legend : h('p', { class: 'muted' }, `No spend in the last ${days.length} days.`));
}

/** 1, 2 or 5 times a power of ten (in minor units), at least one cent. */
function niceStep(raw) {
  const min = 1000;
  if (!(raw > min)) return min;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

// ---------------------------------------------------------------- views

const modelCols = [
  { label: 'Model', get: (m) => m.model ?? '(none)' },
  { label: 'Provider', get: (m) => m.provider },
  { label: 'Requests', num: true, get: (m) => int(m.requests) },
  { label: 'Input tokens', num: true, get: (m) => int(m.input_tokens) },
  { label: 'Output tokens', num: true, get: (m) => int(m.output_tokens) },
  // A model whose every row has no cost has no known cost: a dash, not $0.00.
  { label: 'Cost', num: true, get: (m) => (m.unknown_cost_requests === m.requests ? '—' : usd(m.cost_usd_minor_units)) },
];

function sumDays(byDay, from, to) {
  const rows = byDay.filter((d) => d.date >= from && (to === undefined || d.date < to));
  return { cost: rows.reduce((sum, d) => sum + d.cost_usd_minor_units, 0), requests: rows.reduce((sum, d) => sum + d.requests, 0) };
}

const requestsText = (n) => `${int(n)} request${n === 1 ? '' : 's'}`;

async function overview() {
  const p = periods();
  const since = p.lastMonthStart < p.since30 ? p.lastMonthStart : p.since30;
  const q = (from) => `/v1/stats?since=${from}`;
  const [wide, recent] = await Promise.all([api(q(since)), api(q(p.since30))]);
  const today = sumDays(wide.by_day, p.today);
  const month = sumDays(wide.by_day, p.monthStart);
  const lastMonth = sumDays(wide.by_day, p.lastMonthStart, p.monthStart);
  const total30 = recent.summary.total_cost_usd_minor_units;

  // The API already lists groups by cost (the order `report` uses), so the page keeps it.
  const projects = recent.by_project.slice(0, 10);
  const models = recent.by_model.slice(0, 10);
  return [
    h('h1', null, 'Overview'),
    h(
      'div',
      { class: 'cards', id: 'cards' },
      card('today', 'Today', usd(today.cost), requestsText(today.requests)),
      card('month', 'This month', usd(month.cost), requestsText(month.requests)),
      card('last-month', 'Last month', usd(lastMonth.cost), requestsText(lastMonth.requests)),
      card('last-30', `Last ${DAYS} days`, usd(total30), requestsText(recent.summary.total_requests)),
    ),
    costNotes(recent.summary),
    section(`Spend per day, last ${DAYS} days`, spendChart(lastDays(p.today, DAYS), recent.by_day_by_provider)),
    section(
      `Top projects, last ${DAYS} days`,
      table(
        'top-projects',
        [
          { label: 'Project', get: (r) => h('a', { href: projectHref(r.slug) }, r.slug) },
          { label: 'Requests', num: true, get: (r) => int(r.requests) },
          { label: 'Cost', num: true, get: (r) => usd(r.cost_usd_minor_units) },
          { label: 'Share', num: true, get: (r) => share(r.cost_usd_minor_units, total30) },
        ],
        projects,
        'No requests yet.',
      ),
    ),
    section(`Top models, last ${DAYS} days`, table('top-models', modelCols, models, 'No requests yet.')),
  ];
}

// Sums never count a missing cost as $0 silently, and estimated usage is named as such (as `report` does).
function costNotes(summary) {
  const notes = [];
  if (summary.unknown_cost_requests > 0) notes.push(`Not in these sums: ${requestsText(summary.unknown_cost_requests)} of the last ${DAYS} days with no cost (unknown model or no usage).`);
  if (summary.estimated_cost_usd_minor_units > 0) notes.push(`Estimated: ${usd(summary.estimated_cost_usd_minor_units)} of the last ${DAYS} days' spend (streams without usage, tokens counted by the meter).`);
  return notes.length ? h('p', { class: 'muted note', id: 'cost-notes' }, notes.join(' ')) : null;
}

function share(part, whole) {
  const ratio = whole > 0 ? part / whole : 0;
  const bar = h('span', { class: 'share-bar' }, h('span', { class: 'share-fill' }));
  // CSSOM, not a style attribute: the CSP refuses inline style attributes.
  bar.firstChild.style.width = `${(ratio * 100).toFixed(1)}%`;
  return h('span', { class: 'share' }, bar, `${(ratio * 100).toFixed(0)}%`);
}

async function projectsView() {
  const list = await api('/v1/projects');
  return [
    h('h1', null, 'Projects'),
    table(
      'projects',
      [
        { label: 'Project', get: (p) => [h('a', { href: projectHref(p.slug) }, p.name && p.name !== p.slug ? `${p.name} (${p.slug})` : p.slug), p.archived_at ? h('span', { class: 'tag' }, 'archived') : null] },
        { label: 'This month', num: true, get: (p) => usd(p.stats.cost_usd_this_month_minor_units) },
        { label: 'Last month', num: true, get: (p) => usd(p.stats.previous_month_cost_usd_minor_units) },
        { label: 'All time', num: true, get: (p) => usd(p.stats.all_time_cost_usd_minor_units) },
        { label: 'Requests', num: true, get: (p) => int(p.stats.all_time_requests) },
        { label: 'Top model', get: (p) => p.stats.top_model ?? '—' },
        { label: 'Last active', get: (p) => when(p.stats.last_active_at) },
      ],
      list,
      'No projects yet: nothing has been metered.',
    ),
  ];
}

async function projectView(slug, search) {
  const enc = encodeURIComponent(slug);
  const p = periods();
  const [project, stats] = await Promise.all([api(`/v1/projects/${enc}`), api(`/v1/projects/${enc}/stats?since=${p.since30}`)]);
  const st = project.stats;
  return [
    h('p', { class: 'crumbs' }, h('a', { href: '/projects' }, 'Projects'), ' / '),
    h('h1', null, project.name && project.name !== project.slug ? `${project.name} (${project.slug})` : project.slug, project.archived_at ? h('span', { class: 'tag' }, 'archived') : null),
    h(
      'p',
      { class: 'muted', id: 'project-meta' },
      st.top_model ? `Most spent on ${st.top_model} (${st.top_provider})` : 'No priced requests yet',
      ` · last active ${when(st.last_active_at)}`,
    ),
    h(
      'div',
      { class: 'cards', id: 'cards' },
      card('month', 'This month', usd(st.cost_usd_this_month_minor_units), requestsText(st.requests_this_month)),
      card('last-month', 'Last month', usd(st.previous_month_cost_usd_minor_units), 'calendar month, UTC'),
      card('all-time', 'All time', usd(st.all_time_cost_usd_minor_units), requestsText(st.all_time_requests)),
      card('cache', `Cache hit rate, ${DAYS} days`, percent(stats.summary.cache_hit_rate), `${int(stats.summary.total_cache_read_tokens)} cache-read tokens`),
    ),
    costNotes(stats.summary),
    section(`Spend per day, last ${DAYS} days`, spendChart(lastDays(p.today, DAYS), stats.by_day_by_provider)),
    section(`By model, last ${DAYS} days`, table('by-model', modelCols, stats.by_model, 'No requests in this period.')),
    h('section', { id: 'requests-section' }, await requestsPart(slug, search)),
  ];
}

/** The recent-requests table; its page is in the URL (?cursor=&page=) so Back returns to it. */
async function requestsPart(slug, search) {
  const params = new URLSearchParams(search);
  const cursor = params.get('cursor');
  const page = Math.max(1, Number.parseInt(params.get('page') ?? '1', 10) || 1);
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) q.set('cursor', cursor);
  const enc = encodeURIComponent(slug);
  const data = await api(`/v1/projects/${enc}/requests?${q}`);
  const first = (page - 1) * PAGE_SIZE + 1;
  const last = first + data.items.length - 1;
  const nav = h(
    'div',
    { class: 'pager' },
    h('span', { class: 'muted', id: 'page-info' }, data.items.length ? `Page ${page} · requests ${int(first)}–${int(last)} of ${int(data.total)}` : `${int(data.total)} requests`),
    cursor ? h('a', { href: projectHref(slug), id: 'first-page' }, '« Newest') : null,
    data.next_cursor ? h('a', { href: projectHref(slug, `?${new URLSearchParams({ cursor: data.next_cursor, page: String(page + 1) })}`), id: 'next-page', rel: 'next' }, 'Next page »') : null,
  );
  return [
    h(
      'div',
      { class: 'section-head' },
      h('h2', null, 'Recent requests'),
      h('a', { href: `/v1/projects/${enc}/requests.csv`, download: `${slug.replace(/[^a-z0-9._-]+/gi, '_')}-requests.csv`, id: 'csv-export', class: 'button' }, 'Export CSV'),
    ),
    table(
      'requests',
      [
        { label: 'Time', get: (r) => h('a', { href: requestHref(r.id) }, when(r.requested_at)) },
        { label: 'Provider', get: (r) => r.provider },
        { label: 'Model', get: (r) => r.model ?? '—' },
        { label: 'Input', num: true, get: (r) => int(r.input_tokens) },
        { label: 'Output', num: true, get: (r) => int(r.output_tokens) },
        { label: 'Cache read', num: true, get: (r) => int(r.cache_read_tokens) },
        {
          label: 'Cost',
          num: true,
          get: (r) => [
            h('span', { title: r.cost_usd_minor_units === null ? 'no cost' : usdExact(r.cost_usd_minor_units) }, usd(r.cost_usd_minor_units)),
            // Tokens were read but the stream ended early: the figure may be low.
            r.tokens_complete === false && (r.input_tokens !== null || r.output_tokens !== null) ? h('span', { class: 'tag', title: 'usage incomplete: the figure may be low' }, 'partial') : null,
          ],
        },
        { label: 'Latency', num: true, get: (r) => (r.latency_ms === null ? '—' : `${int(r.latency_ms)} ms`) },
        { label: 'Status', get: (r) => h('span', { class: r.status === 'success' ? 'ok' : 'bad' }, r.status) },
      ],
      data.items,
      'No requests recorded for this project.',
    ),
    nav,
  ];
}

const TOKEN_CLASS_LABELS = {
  input: 'Input',
  cache_read: 'Cache read',
  cache_write_5m: 'Cache write (5 min)',
  cache_write_1h: 'Cache write (1 h)',
  output: 'Output',
  thinking: 'Thinking',
  web_search: 'Web search',
};

// A breakdown line names its rate per million tokens (usd_per_million), or as a decimal string per
// unit (rate_usd with unit "Mtok" or "1k requests"); both read the same on screen.
function lineRate(l) {
  if (typeof l.usd_per_million === 'number') return `${dollars(l.usd_per_million)} / Mtok`;
  if (l.rate_usd === null || l.rate_usd === undefined) return '—';
  const n = Number(l.rate_usd);
  return `${Number.isFinite(n) ? dollars(n) : `$${l.rate_usd}`} / ${l.unit ?? 'Mtok'}`;
}

function quantity(l) {
  const n = l.tokens ?? l.quantity;
  return l.unit === '1k requests' ? `${int(n)} requests` : int(n);
}

// Shown in the breakdown or the headline cards instead of the generic table of fields.
const HIDDEN_FIELDS = new Set(['cost_breakdown', 'usage_json', 'usage']);

async function requestView(id) {
  const r = await api(`/v1/requests/${encodeURIComponent(id)}`);
  const cb = r.cost_breakdown ?? null;
  const slug = r.project ?? r.project_slug ?? null;
  const status = r.status ?? (r.error_class ? r.error_class : 'success');
  const breakdown = cb
    ? [
        table(
          'breakdown',
          [
            { label: 'Token class', get: (l) => TOKEN_CLASS_LABELS[l.token_class] ?? l.token_class },
            { label: 'Tokens', num: true, get: (l) => quantity(l) },
            { label: 'Rate', num: true, get: (l) => lineRate(l) },
            { label: 'Cost', num: true, get: (l) => h('span', { title: l.amount_usd ? `$${l.amount_usd} exactly` : null }, usdExact(l.cost_usd_minor_units)) },
          ],
          cb.lines ?? [],
          'No billable tokens.',
          ['Total', '', cb.discount ? `${cb.discount.reason}: −${cb.discount.percent}%` : '', usdExact(cb.total_cost_usd_minor_units)],
        ),
        h('p', { class: 'muted', id: 'rate-source' }, `Rates: ${cb.source ?? 'unknown source'}${cb.tier ? `, tier ${cb.tier}` : ''}.`, cb.note ? ` ${cb.note}.` : null),
      ]
    : h('p', { class: 'muted', id: 'breakdown' }, `No cost: ${r.cost_reason ?? 'no usage recorded'}.`);

  const fields = Object.entries(r).filter(([k, v]) => !HIDDEN_FIELDS.has(k) && (v === null || typeof v !== 'object'));
  const usage = r.usage_json ?? r.usage ?? null;
  return [
    h('p', { class: 'crumbs' }, h('a', { href: '/projects' }, 'Projects'), ' / ', slug ? [h('a', { href: projectHref(slug) }, slug), ' / '] : null),
    h('h1', null, r.model ?? 'Request'),
    h('p', { class: 'muted' }, `${r.provider ?? ''} · ${when(r.requested_at)} · `, h('code', null, r.id)),
    h(
      'div',
      { class: 'cards', id: 'cards' },
      card('cost', 'Cost', usdExact(r.cost_usd_minor_units), r.usage_source === 'estimated' ? 'estimated usage' : ''),
      card('tokens', 'Tokens in / out', `${int(r.input_tokens)} / ${int(r.output_tokens)}`, ''),
      card('latency', 'Latency', r.latency_ms === null || r.latency_ms === undefined ? '—' : `${int(r.latency_ms)} ms`, ''),
      card('status', 'Status', status, r.status_code ? `HTTP ${r.status_code}` : ''),
    ),
    section('Cost by token class', breakdown),
    section('Details', table('details', [{ label: 'Field', get: ([k]) => k }, { label: 'Value', get: ([, v]) => (v === null ? '—' : String(v)) }], fields, '')),
    usage ? section('Usage as reported', h('pre', { id: 'usage' }, prettyJson(usage))) : null,
  ];
}

function prettyJson(v) {
  if (typeof v !== 'string') return JSON.stringify(v, null, 2);
  try {
    return JSON.stringify(JSON.parse(v), null, 2);
  } catch {
    return v;
  }
}

// ---------------------------------------------------------------- routing

function route(pathname) {
  let m;
  try {
    if (pathname === '/' || pathname === '/index.html') return { view: 'overview' };
    if (/^\/projects\/?$/.test(pathname)) return { view: 'projects' };
    if ((m = /^\/projects\/([^/]+)\/?$/.exec(pathname))) return { view: 'project', slug: decodeURIComponent(m[1]) };
    if ((m = /^\/requests\/([^/]+)\/?$/.exec(pathname))) return { view: 'request', id: decodeURIComponent(m[1]) };
  } catch {
    // A malformed %-escape is a page that does not exist.
  }
  return { view: 'notfound' };
}

const main = document.getElementById('main');
let renderSeq = 0;
/** The project page on screen, so a move to another page of its requests redraws only that part. */
let shown = { view: null, slug: null };

async function render() {
  const seq = ++renderSeq;
  const r = route(location.pathname);
  const pagingOnly = r.view === 'project' && shown.view === 'project' && shown.slug === r.slug;
  main.setAttribute('aria-busy', 'true');
  if (!pagingOnly) {
    main.dataset.view = r.view;
    main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  }
  for (const a of document.querySelectorAll('nav a')) {
    const active = (a.dataset.nav === 'overview' && r.view === 'overview') || (a.dataset.nav === 'projects' && r.view !== 'overview' && r.view !== 'notfound');
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  let nodes;
  try {
    switch (r.view) {
      case 'overview':
        document.title = 'Overview · halton-meter';
        nodes = await overview();
        break;
      case 'projects':
        document.title = 'Projects · halton-meter';
        nodes = await projectsView();
        break;
      case 'project':
        document.title = `${r.slug} · halton-meter`;
        nodes = pagingOnly ? await requestsPart(r.slug, location.search) : await projectView(r.slug, location.search);
        break;
      case 'request':
        document.title = `Request ${r.id} · halton-meter`;
        nodes = await requestView(r.id);
        break;
      default:
        document.title = 'Not found · halton-meter';
        nodes = [h('h1', null, 'Not found'), h('p', null, 'No such page. ', h('a', { href: '/' }, 'Back to the overview'), '.')];
    }
  } catch (err) {
    const what = err instanceof ApiError && err.status === 404 ? 'Not found' : 'Could not load this page';
    nodes = [h('h1', null, what), h('p', { class: 'error' }, err instanceof Error ? err.message : String(err))];
  }
  if (seq !== renderSeq) return; // the user has moved on; a newer render owns the page
  if (pagingOnly) document.getElementById('requests-section')?.replaceChildren(...flat([nodes]));
  else main.replaceChildren(...flat([nodes]));
  shown = { view: r.view, slug: r.slug ?? null };
  main.setAttribute('aria-busy', 'false');
}

// Same-origin page links are handled here; API links (the CSV export) and downloads are left to the
// browser, as are modified clicks (new tab, new window).
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target instanceof Element ? e.target.closest('a[href]') : null;
  if (!a || a.hasAttribute('download') || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/v1/') || url.pathname.startsWith('/api/')) return;
  e.preventDefault();
  const samePage = url.pathname === location.pathname;
  if (url.href !== location.href) history.pushState(null, '', url);
  if (!samePage) window.scrollTo(0, 0);
  void render();
});

window.addEventListener('popstate', () => void render());
void render();
