// `halton-meter report` (SPEC §7): where the money went, read straight from SQLite (read-only: the
// daemon need not run, and a file written by a newer version is read, never altered). The sums come
// from store/stats.ts and are shaped by core/report.ts, like the API's; this file only prints.
// Output shapes (text, --json, --csv) are documented in docs/report.md.
import { existsSync } from 'node:fs';
import { MeterError } from '../../core/errors.js';
import { csvCell } from '../../core/csv.js';
import { MINOR_UNITS_PER_USD } from '../../core/money.js';
import {
  computeReport,
  parseGroup,
  resolvePeriod,
  type GroupData,
  type ReportJson,
  type ReportSource,
  type SummaryData,
  zeroTotals,
} from '../../core/report.js';
import { openDb, SELFTEST_PROJECT, statsAggregate, type Db } from '../../store/index.js';
import type { Style } from '../output/style.js';
import { renderTable, type Cell, type ColumnSpec } from '../output/table.js';

export interface ReportOptions {
  since?: string;
  from?: string;
  to?: string;
  by?: string;
  project?: string;
  vsPrevious?: boolean;
  json?: boolean;
  csv?: boolean;
  includeSelftest?: boolean;
}

export interface ReportDeps {
  dbPath: string;
  out: (text: string) => void;
  err: (text: string) => void;
  style: Style;
  /** Columns to fit; undefined = no limit (piped output). */
  width: number | undefined;
  now: Date;
}

const EMPTY_SUMMARY: SummaryData = {
  ...zeroTotals(),
  projects: 0,
  models: 0,
  lastRequestAt: null,
};

/** The store's aggregates as the report's data source. */
export function storeSource(db: Db): ReportSource {
  return { aggregate: (f, by, o) => statsAggregate(db, f, by, o) };
}

const emptySource: ReportSource = { aggregate: () => ({ summary: EMPTY_SUMMARY, groups: [] as GroupData[] }) };

export async function reportCommand(deps: ReportDeps, opts: ReportOptions): Promise<number> {
  if (opts.json && opts.csv) throw new MeterError('bad_argument', '--json and --csv cannot be combined');
  if (opts.project !== undefined && opts.project.trim() === '') throw new MeterError('bad_argument', '--project must not be empty');
  const by = parseGroup(opts.by);
  const period = resolvePeriod(opts, deps.now);
  // Naming the self-test project asks for it.
  const includeSelftest = opts.includeSelftest === true || opts.project === SELFTEST_PROJECT;
  const query = { period, by, project: opts.project, includeSelftest, vsPrevious: opts.vsPrevious === true };

  const noFile = !existsSync(deps.dbPath);
  let report: ReportJson;
  if (noFile) {
    report = computeReport(emptySource, query);
  } else {
    const db = openDb(deps.dbPath, { readonly: true });
    try {
      report = computeReport(storeSource(db), query);
    } finally {
      db.close();
    }
  }

  if (opts.json) deps.out(JSON.stringify(report, null, 2));
  else if (opts.csv) deps.out(reportCsv(report));
  else deps.out(renderReport(report, deps.style, deps.width, noFile ? deps.dbPath : null).join('\n'));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Formatting.

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Dollars: cents from $1 up; below that four decimals, so small spends do not read as $0.00. */
export function usd(minor: number): string {
  const v = minor / MINOR_UNITS_PER_USD;
  const digits = Math.abs(v) >= 1 || minor === 0 ? 2 : 4;
  const s = Math.abs(v).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${minor < 0 ? '-' : ''}$${s}`;
}

export function pct(p: number | null): string {
  if (p === null) return 'new';
  return `${p > 0 ? '+' : p < 0 ? '−' : '±'}${Math.abs(p).toFixed(1)}%`;
}

const ms = (v: number | null): string => (v === null ? '-' : int(v));

/** A period as the header prints it: days when it is whole UTC days, minutes otherwise. */
function periodText(p: { from: string; to: string }): string {
  const whole = (s: string): boolean => s.slice(10) === 'T00:00:00.000Z';
  if (whole(p.from) && whole(p.to)) {
    const last = new Date(Date.parse(p.to) - 86_400_000).toISOString().slice(0, 10);
    return `${p.from.slice(0, 10)} → ${last} (UTC days)`;
  }
  return `${p.from.slice(0, 16).replace('T', ' ')} → ${p.to.slice(0, 16).replace('T', ' ')} UTC`;
}

const GROUP_HEADER: Readonly<Record<ReportJson['by'], string>> = { project: 'project', model: 'model', provider: 'provider', day: 'day' };

export function renderReport(r: ReportJson, style: Style, width: number | undefined, missingDb: string | null = null): string[] {
  const s = r.summary;
  const scope = r.project !== null ? ` · project ${r.project}` : r.include_selftest ? ' · self-test included' : '';
  const out: string[] = [style.bold(`Report ${periodText(r.period)} · by ${r.by}${scope}`)];
  if (missingDb !== null) {
    out.push(`No database yet at ${missingDb}: nothing has been metered. It is created when the meter first starts (halton-meter init).`);
    return out;
  }
  if (s.requests === 0) {
    out.push(r.project !== null ? `No requests for project ${r.project} in this period.` : 'No requests in this period.');
    if (r.previous_summary && r.previous_summary.requests > 0) {
      out.push(style.dim(`previous period: ${int(r.previous_summary.requests)} requests, ${usd(r.previous_summary.cost_usd_minor_units)}`));
    }
    return out;
  }
  const label = (t: string): string => style.dim(t.padEnd(10));
  out.push(`${label('requests')}${int(s.requests)} · projects ${int(s.projects)} · models ${int(s.models)}`);
  out.push(`${label('tokens')}in ${int(s.input_tokens)} · out ${int(s.output_tokens)}${s.thinking_tokens ? ` (reasoning ${int(s.thinking_tokens)})` : ''}`);
  out.push(`${label('cache')}read ${int(s.cache_read_tokens)} · write ${int(s.cache_write_tokens)}`);
  // Short lines: the header must read on a 60-column terminal too.
  const est = s.estimated_cost_usd_minor_units !== 0 ? ` (incl. ${usd(s.estimated_cost_usd_minor_units)} estimated)` : '';
  out.push(`${label('cost')}${style.bold(usd(s.cost_usd_minor_units))}${est}`);
  if (s.estimated_cost_usd_minor_units !== 0) out.push(`${label('')}${style.dim('estimated: usage counted by tokenizer, not reported')}`);
  if (s.unknown_cost_requests > 0) {
    out.push(`${label('no cost')}${int(s.unknown_cost_requests)} request${s.unknown_cost_requests === 1 ? '' : 's'} (model or usage unknown; not in the cost)`);
  }
  if (r.previous_summary && r.previous_period && r.delta) {
    const p = r.previous_summary;
    out.push(`${label('previous')}${periodText(r.previous_period)}`);
    out.push(`${label('')}${int(p.requests)} requests, ${usd(p.cost_usd_minor_units)} · Δ requests ${pct(r.delta.requests_pct)} · Δ cost ${pct(r.delta.cost_pct)}`);
  }

  const showEst = s.estimated_cost_usd_minor_units !== 0;
  const vs = r.previous_summary !== null;
  // Narrow terminals drop the least needed first: latency, then estimated part, then token counts;
  // the group, requests, cost and Δ% stay.
  const columns: ColumnSpec[] = [
    { header: GROUP_HEADER[r.by], minWidth: 12 },
    ...(r.by === 'model' ? [{ header: 'provider', dropOrder: 3 } satisfies ColumnSpec] : []),
    { header: 'requests', align: 'right' },
    { header: 'tokens in', align: 'right', dropOrder: 5 },
    { header: 'tokens out', align: 'right', dropOrder: 4 },
    { header: 'cost', align: 'right' },
    ...(showEst ? [{ header: 'estimated', align: 'right', dropOrder: 6 } satisfies ColumnSpec] : []),
    { header: 'avg ms', align: 'right', dropOrder: 8 },
    { header: 'p95 ms', align: 'right', dropOrder: 7 },
    ...(vs ? [{ header: 'Δ cost', align: 'right' } satisfies ColumnSpec] : []),
  ];
  const rows: Cell[][] = r.groups.map((g) => [
    g.key,
    ...(r.by === 'model' ? [g.provider ?? ''] : []),
    int(g.requests),
    int(g.input_tokens),
    int(g.output_tokens),
    g.unknown_cost_requests === g.requests ? 'unknown' : usd(g.cost_usd_minor_units),
    ...(showEst ? [g.estimated_cost_usd_minor_units === 0 ? '-' : usd(g.estimated_cost_usd_minor_units)] : []),
    ms(g.avg_latency_ms),
    ms(g.p95_latency_ms),
    ...(vs ? [pct(g.cost_delta_pct)] : []),
  ]);
  const t = renderTable(columns, rows, { width, headerStyle: style.bold });
  out.push('', ...t.lines);
  if (t.dropped.length > 0) out.push(style.dim(`(hidden: ${t.dropped.join(', ')})`));
  return out;
}

const CSV_HEADER = [
  'group',
  'key',
  'provider',
  'requests',
  'input_tokens',
  'output_tokens',
  'thinking_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'cost_usd_minor_units',
  'estimated_cost_usd_minor_units',
  'unknown_cost_requests',
  'avg_latency_ms',
  'p95_latency_ms',
  'previous_requests',
  'previous_cost_usd_minor_units',
  'cost_delta_pct',
] as const;

/** One line per group; the previous-period columns are empty without --vs-previous. */
export function reportCsv(r: ReportJson): string {
  const lines = [CSV_HEADER.join(',')];
  for (const g of r.groups) {
    lines.push(
      [
        r.by,
        g.key,
        g.provider,
        g.requests,
        g.input_tokens,
        g.output_tokens,
        g.thinking_tokens,
        g.cache_read_tokens,
        g.cache_write_tokens,
        g.cost_usd_minor_units,
        g.estimated_cost_usd_minor_units,
        g.unknown_cost_requests,
        g.avg_latency_ms,
        g.p95_latency_ms,
        g.previous?.requests ?? null,
        g.previous?.cost_usd_minor_units ?? null,
        g.cost_delta_pct,
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return lines.join('\n');
}

/** The width to fit: the terminal's, else a numeric COLUMNS (set by shells and by tests). */
export function reportWidth(tty: number | undefined, env: Readonly<Record<string, string | undefined>>): number | undefined {
  if (tty !== undefined) return tty;
  const c = Number(env.COLUMNS);
  return Number.isInteger(c) && c > 0 ? c : undefined;
}
