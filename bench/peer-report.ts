// The peer comparison's table: one row per figure, one column per path (direct, relay, halton-meter,
// mitmproxy), then the two ratios the issue asks for and the target. Its own shape, so it does not
// squeeze four paths into report.ts's direct-vs-meter columns.
import type { Verdict } from './report.js';

export const COLUMN_IDS = ['direct', 'relay', 'halton', 'mitm'] as const;
export type ColumnId = (typeof COLUMN_IDS)[number];

export const COLUMN_LABEL: Record<ColumnId, string> = {
  direct: 'direct',
  relay: 'relay (socat)',
  halton: 'halton-meter',
  mitm: 'mitmproxy',
};

export interface PeerFigure {
  figure: string;
  cells: Record<ColumnId, string>;
  /** halton-meter / mitmproxy. */
  hmMitm: string;
  /** halton-meter / direct. */
  hmDirect: string;
  target: string;
  verdict: Verdict;
  values: Record<string, number | string | null>;
}

const HEADER = ['figure', ...COLUMN_IDS.map((c) => COLUMN_LABEL[c]), 'hm/mitmproxy', 'hm/direct', 'target', 'PASS/MISS'];

function cellsOf(f: PeerFigure): string[] {
  return [f.figure, ...COLUMN_IDS.map((c) => f.cells[c]), f.hmMitm, f.hmDirect, f.target, f.verdict === 'info' ? '-' : f.verdict];
}

export function renderPeerTable(figures: readonly PeerFigure[]): string {
  const rows = figures.map(cellsOf);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join(' | ').trimEnd();
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

/** Markdown flavour, for the "Peer comparison" table of docs/performance.md. */
export function renderPeerMarkdown(figures: readonly PeerFigure[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const rows = figures.map((f) => {
    const c = cellsOf(f);
    if (f.verdict !== 'info') c[c.length - 1] = `**${f.verdict}**`;
    return `| ${c.map(esc).join(' | ')} |`;
  });
  return [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`, ...rows].join('\n');
}
