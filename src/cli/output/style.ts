// Terminal styling: colour only on a TTY without NO_COLOR (SPEC §7).
export interface Style {
  ok(text: string): string;
  bad(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

export function makeStyle(isTty: boolean, env: Readonly<Record<string, string | undefined>>): Style {
  const on = isTty && env.NO_COLOR === undefined && env.TERM !== 'dumb';
  const wrap = (code: string) => (t: string) => (on ? `\u001b[${code}m${t}\u001b[0m` : t);
  return { ok: wrap('32'), bad: wrap('31'), dim: wrap('2'), bold: wrap('1') };
}

export const CHECK = '✓';
export const CROSS = '✗';
