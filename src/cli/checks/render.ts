// doctor's output. Text: one ✓ / ! / ✗ line per check with its detail (further detail lines, such
// as a unit diff, indented), then the fix commands (one line per distinct command, naming the checks
// it answers and whether --fix runs it), then `verdict: X`. JSON: the same facts as data.
import { CHECK, CROSS, type Style } from '../output/style.js';
import type { CheckResult, CheckStatus, Fix, RepairAction } from './types.js';
import type { Verdict } from './verdict.js';

export interface NextStep {
  command: string;
  automatic: boolean;
  action: RepairAction | null;
  /** Ids of the checks this command answers, in check order. */
  checks: string[];
}

/** What --fix did (or tried) for one automatic command. */
export interface FixApplied {
  action: RepairAction;
  command: string;
  checks: string[];
  ok: boolean;
  detail: string;
  /** init's own step lines, when the action was init. */
  output: string[];
}

/** A fix --fix left alone, and why. */
export interface FixLeft {
  command: string;
  checks: string[];
  reason: string;
}

export interface DoctorReport {
  verdict: Verdict;
  checks: CheckResult[];
}

/** The distinct fix commands, in the order of the first check that needs each. */
export function nextSteps(results: readonly CheckResult[]): NextStep[] {
  const out: NextStep[] = [];
  for (const r of results) {
    const fix = r.fix;
    if (r.status === 'ok' || !fix) continue;
    const same = out.find((s) => s.command === fix.command);
    if (same) {
      same.checks.push(r.id);
      continue;
    }
    out.push({ command: fix.command, automatic: fix.automatic, action: fix.action ?? null, checks: [r.id] });
  }
  return out;
}

function mark(status: CheckStatus, style: Style): string {
  return status === 'ok' ? style.ok(CHECK) : status === 'warn' ? style.bad('!') : style.bad(CROSS);
}

export function renderChecks(results: readonly CheckResult[], style: Style): string[] {
  const lines: string[] = [];
  for (const r of results) {
    const [first, ...more] = r.detail.split('\n');
    lines.push(`${mark(r.status, style)} ${r.title}: ${first}`, ...more.map((l) => `    ${l}`));
  }
  return lines;
}

export function renderNextSteps(steps: readonly NextStep[], style: Style): string[] {
  if (steps.length === 0) return [];
  return ['', style.bold('to fix:'), ...steps.flatMap((s) => [`  ${s.checks.join(', ')} ${style.dim(s.automatic ? '(doctor --fix does this)' : '(by hand)')}:`, `    ${s.command}`])];
}

export function renderVerdict(verdict: Verdict, style: Style): string {
  return `verdict: ${verdict === 'HEALTHY' ? style.ok(verdict) : style.bad(style.bold(verdict))}`;
}

export function renderReport(report: DoctorReport, style: Style): string[] {
  return [...renderChecks(report.checks, style), ...renderNextSteps(nextSteps(report.checks), style), '', renderVerdict(report.verdict, style)];
}

export function renderFixes(applied: readonly FixApplied[], left: readonly FixLeft[], style: Style): string[] {
  const lines: string[] = [style.bold('doctor --fix:')];
  if (applied.length === 0) lines.push('  nothing it can repair by itself');
  for (const a of applied) {
    lines.push(`  ${a.ok ? style.ok(CHECK) : style.bad(CROSS)} ${a.command} (${a.checks.join(', ')}): ${a.detail}`);
    lines.push(...a.output.map((l) => `      ${l}`));
  }
  for (const l of left) lines.push(`  - not done (${l.checks.join(', ')}): ${l.reason}`, `      ${l.command}`);
  return lines;
}

function fixJson(fix: Fix | null): { command: string; automatic: boolean } | null {
  return fix ? { command: fix.command, automatic: fix.automatic } : null;
}

export function checkJson(r: CheckResult): { id: string; title: string; status: CheckStatus; detail: string; fix: { command: string; automatic: boolean } | null } {
  return { id: r.id, title: r.title, status: r.status, detail: r.detail, fix: fixJson(r.fix) };
}

export interface DoctorJson {
  verdict: Verdict;
  checks: ReturnType<typeof checkJson>[];
  fixed: FixApplied[];
  /** With --fix only: the fixes not applied, and the report before them. */
  not_fixed?: FixLeft[];
  before?: { verdict: Verdict; checks: ReturnType<typeof checkJson>[] };
}

export function reportJson(report: DoctorReport, fix?: { before: DoctorReport; applied: FixApplied[]; left: FixLeft[] }): DoctorJson {
  const out: DoctorJson = { verdict: report.verdict, checks: report.checks.map(checkJson), fixed: fix?.applied ?? [] };
  if (fix) {
    out.not_fixed = fix.left;
    out.before = { verdict: fix.before.verdict, checks: fix.before.checks.map(checkJson) };
  }
  return out;
}
