// A small terminal table: columns sized to their content, fitted to the terminal width by shortening
// the columns that may be shortened and then dropping the ones that may be dropped (SPEC §7: output
// adapts to the terminal). Widths are measured on plain text; styling (colour) is applied after
// padding, so escape codes never count as width and a non-TTY gets exactly the same layout.

export type Align = 'left' | 'right';

export interface ColumnSpec {
  header: string;
  /** Default 'left'; numbers read better right-aligned. */
  align?: Align;
  /** Narrowest this column may be shortened to (with "…") when the table is too wide; absent = never shortened. */
  minWidth?: number;
  /** Dropped when the table still does not fit: the highest number goes first. Absent or 0 = always kept. */
  dropOrder?: number;
}

/** A cell: plain text, or text with a style applied after padding. */
export type Cell = string | { text: string; style?: (padded: string) => string };

export interface TableOptions {
  /** Terminal width; absent or not finite = no limit (output piped to a file or another program). */
  width?: number;
  /** Spaces between columns. Default 2. */
  gap?: number;
  /** Applied to the header line (e.g. bold). */
  headerStyle?: (line: string) => string;
  /** Rule under the header; default '─'. An empty string leaves the rule out. */
  rule?: string;
}

export interface RenderedTable {
  lines: string[];
  /** Headers of the columns dropped to fit the width, for a "(… hidden: widen the terminal)" note. */
  dropped: string[];
}

const ELLIPSIS = '…';

/** Display width of plain text: code points (the CLI prints no wide East Asian text of its own). */
export function textWidth(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Shortens `s` to `width` code points, marking the cut with an ellipsis. */
export function truncate(s: string, width: number): string {
  if (textWidth(s) <= width) return s;
  if (width <= 0) return '';
  if (width === 1) return ELLIPSIS;
  return [...s].slice(0, width - 1).join('') + ELLIPSIS;
}

function pad(s: string, width: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, width - textWidth(s)));
  return align === 'right' ? fill + s : s + fill;
}

function cellText(c: Cell | undefined): string {
  if (c === undefined) return '';
  return typeof c === 'string' ? c : c.text;
}

function total(widths: readonly number[], kept: readonly boolean[], gap: number): number {
  let sum = 0;
  let n = 0;
  widths.forEach((w, i) => {
    if (kept[i]) {
      sum += w;
      n++;
    }
  });
  return sum + gap * Math.max(0, n - 1);
}

/**
 * Lays out and renders. Fitting, in order: shorten shrinkable columns (widest first) down to their
 * minWidth; if that is not enough, drop droppable columns (highest dropOrder first), giving the
 * shortened columns back what each drop frees. A table that still does not fit is printed as is:
 * the terminal wraps it, which loses nothing.
 */
export function renderTable(columns: readonly ColumnSpec[], rows: readonly (readonly Cell[])[], opts: TableOptions = {}): RenderedTable {
  const gap = opts.gap ?? 2;
  const limit = opts.width !== undefined && Number.isFinite(opts.width) && opts.width > 0 ? Math.floor(opts.width) : Number.POSITIVE_INFINITY;
  const natural = columns.map((c, i) => Math.max(textWidth(c.header), ...rows.map((r) => textWidth(cellText(r[i])))));
  const kept = columns.map(() => true);
  const widths = [...natural];

  const shrinkTo = (): void => {
    // Give every shrinkable column its natural width back, then take from the widest until it fits.
    columns.forEach((c, i) => {
      if (c.minWidth !== undefined) widths[i] = natural[i];
    });
    while (total(widths, kept, gap) > limit) {
      let widest = -1;
      columns.forEach((c, i) => {
        if (kept[i] && c.minWidth !== undefined && widths[i] > Math.min(c.minWidth, natural[i]) && (widest === -1 || widths[i] > widths[widest])) widest = i;
      });
      if (widest === -1) return;
      widths[widest] -= 1;
    }
  };

  shrinkTo();
  const dropped: string[] = [];
  const dropOrder = columns
    .map((c, i) => ({ i, order: c.dropOrder ?? 0 }))
    .filter((d) => d.order > 0)
    .sort((a, b) => b.order - a.order || b.i - a.i);
  for (const d of dropOrder) {
    if (total(widths, kept, gap) <= limit) break;
    kept[d.i] = false;
    dropped.push(columns[d.i].header);
    shrinkTo();
  }

  const visible = columns.map((_, i) => i).filter((i) => kept[i]);
  const line = (cells: readonly Cell[], header: boolean): string => {
    const parts = visible.map((i, k) => {
      const c = columns[i];
      const text = truncate(cellText(cells[i]), widths[i]);
      // The last column is not padded on the left-aligned side: no trailing spaces.
      const last = k === visible.length - 1;
      const padded = last && (c.align ?? 'left') === 'left' ? text : pad(text, widths[i], c.align ?? 'left');
      const cell = cells[i];
      return !header && typeof cell === 'object' && cell.style ? cell.style(padded) : padded;
    });
    // Empty trailing cells would otherwise leave trailing spaces.
    return parts.join(' '.repeat(gap)).trimEnd();
  };

  const lines: string[] = [];
  const headerLine = line(columns.map((c) => c.header), true);
  lines.push(opts.headerStyle ? opts.headerStyle(headerLine) : headerLine);
  const rule = opts.rule ?? '─';
  if (rule !== '') lines.push(visible.map((i) => rule.repeat(widths[i])).join(' '.repeat(gap)));
  for (const r of rows) lines.push(line(r, false));
  return { lines, dropped };
}

/** The width to fit: the terminal's when stdout is one, otherwise none (piped output is not cut). */
export function terminalWidth(stream: { isTTY?: boolean; columns?: number }): number | undefined {
  return stream.isTTY === true && typeof stream.columns === 'number' && stream.columns > 0 ? stream.columns : undefined;
}
