// One CSV cell (RFC 4180 quoting). Text that a spreadsheet would run as a formula (=, +, -, @ first)
// is prefixed with a quote mark: model names and slugs come from outside and end up in Excel.
export function csvCell(v: string | number | boolean | null): string {
  if (v === null) return '';
  if (typeof v !== 'string') return String(v);
  const s = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(cells: ReadonlyArray<string | number | boolean | null>): string {
  return cells.map(csvCell).join(',');
}
