// The 'report' phase of `npm run bench` (issue 5, must-show 5): bench/report-1m.ts in a process of
// its own, so its 1M-row build and its timings share neither heap nor event loop with the meter
// phases; its figures join the bench's table (in-process in the "direct" column, the CLI in the
// other). --quick builds 200,000 rows instead of 1,000,000.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Figure } from './report.js';
import type { ReportBenchResult, Timing } from './report-1m.js';

export async function reportPhase(quick: boolean, log: (line: string) => void): Promise<{ figures: Figure[]; detail: ReportBenchResult }> {
  const dir = mkdtempSync(join(tmpdir(), 'hm-bench-report-'));
  try {
    const json = join(dir, 'report.json');
    const script = fileURLToPath(new URL('./report-1m.js', import.meta.url));
    const child = spawn(process.execPath, [script, ...(quick ? ['200000'] : []), `--json=${json}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: child.stdout }).on('line', (l) => log(`report: ${l}`));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    if (code !== 0) throw new Error(`bench/report-1m.js exited ${code}`);
    const r = JSON.parse(readFileSync(json, 'utf8')) as ReportBenchResult;
    return { figures: figuresOf(r), detail: r };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (t: Timing): string => `${t.best.toFixed(0)} ms`;

function figuresOf(r: ReportBenchResult): Figure[] {
  const rows = r.rows >= 1_000_000 && r.rows % 1_000_000 === 0 ? `${r.rows / 1_000_000}M` : r.rows.toLocaleString('en-US');
  return [
    ...r.variants.map(
      (v): Figure => ({
        figure: `${v.args.join(' ')} (${rows} rows, 30 days)`,
        direct: `in-process ${ms(v.inProcess)}`,
        metered: `CLI ${ms(v.cli)}`,
        added: '-',
        target: `< ${r.targetMs} ms each`,
        verdict: v.inProcess.best < r.targetMs && v.cli.best < r.targetMs ? 'PASS' : 'MISS',
        values: { in_process_ms: v.inProcess.best, cli_ms: v.cli.best },
      }),
    ),
    {
      figure: 'report --help (CLI startup, no query)',
      direct: '-',
      metered: `CLI ${ms(r.startup)}`,
      added: '-',
      target: '-',
      verdict: 'info',
      values: { cli_ms: r.startup.best },
    },
    {
      figure: 'report, no database (CLI startup with its modules)',
      direct: '-',
      metered: `CLI ${ms(r.startupNoDb)}`,
      added: '-',
      target: '-',
      verdict: 'info',
      values: { cli_ms: r.startupNoDb.best },
    },
  ];
}
