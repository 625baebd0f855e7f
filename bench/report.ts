// The bench's output: one line per figure, `figure | direct | through meter | added/ratio | target |
// PASS/MISS`, printed as an aligned table and written as JSON (dist/bench/last.json) for tooling.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export type Verdict = 'PASS' | 'MISS' | 'info';

export interface Figure {
  figure: string;
  direct: string;
  metered: string;
  added: string;
  target: string;
  verdict: Verdict;
  /** Raw numbers behind the strings, for tooling. */
  values: Record<string, number | string | null>;
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  node: string;
  date: string;
  command: string;
  loadavgBefore: string;
  /** Commit and uncommitted changes of the tree measured (src/ is what the numbers describe). */
  tree: string;
}

export function machineInfo(command: string, root: string): MachineInfo {
  let n = cpus().length;
  try {
    n = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || n;
  } catch {
    // nproc missing: os.cpus() is close enough.
  }
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) model = m[1].trim();
  } catch {
    // not Linux: keep os.cpus()
  }
  let load = 'n/a';
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    // not Linux
  }
  // A snapshot outside git (e.g. `git archive HEAD` into a scratch directory) can name itself.
  let tree = process.env.HALTON_BENCH_TREE ?? 'unknown';
  try {
    const git = (args: string[]): string => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const head = git(['rev-parse', '--short', 'HEAD']).trim();
    const dirty = git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean).length;
    tree = dirty ? `${head} + ${dirty} uncommitted file(s) in src/` : `${head} (src/ clean)`;
  } catch {
    // not a git checkout
  }
  return { nproc: n, cpuModel: model, node: process.version, date: new Date().toISOString(), command, loadavgBefore: load, tree };
}

const HEADER = ['figure', 'direct', 'through meter', 'added/ratio', 'target', 'PASS/MISS'];

export function renderTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [f.figure, f.direct, f.metered, f.added, f.target, f.verdict === 'info' ? '-' : f.verdict]);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join(' | ').trimEnd();
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

/** Markdown flavour of the same table, for docs/performance.md. */
export function renderMarkdown(figures: readonly Figure[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const rows = figures.map((f) => `| ${[f.figure, f.direct, f.metered, f.added, f.target, f.verdict === 'info' ? '-' : `**${f.verdict}**`].map(esc).join(' | ')} |`);
  return [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`, ...rows].join('\n');
}
