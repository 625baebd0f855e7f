// One doctor run: gather the facts, run the checks, print; with --fix, apply the automatic fixes,
// print what was done, gather and check again, print the new verdict. Text is printed as it goes
// (a repair may wait up to 30 s for the daemon); JSON is printed once at the end.
import type { CliContext } from '../context.js';
import { gatherFacts, type DoctorDeps } from './facts.js';
import { runChecks } from './index.js';
import { applyRepairs, planRepairs } from './repair.js';
import { renderFixes, renderReport, reportJson, type DoctorJson, type DoctorReport, type FixApplied, type FixLeft } from './render.js';
import type { Check } from './types.js';
import { EXIT_CODES, verdictOf } from './verdict.js';

export interface DoctorOptions {
  json?: boolean;
  fix?: boolean;
}

export interface DoctorOutcome {
  code: number;
  report: DoctorReport;
  json: DoctorJson;
  fixed: FixApplied[];
  left: FixLeft[];
}

export async function checkOnce(ctx: CliContext, deps: DoctorDeps, warnings: readonly string[], checks?: readonly Check[]): Promise<DoctorReport> {
  const facts = await gatherFacts(ctx, deps, warnings);
  const results = await runChecks(facts, checks);
  return { verdict: verdictOf(results), checks: results };
}

export async function runDoctor(ctx: CliContext, deps: DoctorDeps, warnings: readonly string[], opts: DoctorOptions, checks?: readonly Check[]): Promise<DoctorOutcome> {
  const print = (lines: string[]): void => {
    if (!opts.json) ctx.out(lines.join('\n'));
  };
  const facts = await gatherFacts(ctx, deps, warnings);
  const results = await runChecks(facts, checks);
  const before: DoctorReport = { verdict: verdictOf(results), checks: results };
  print(renderReport(before, ctx.style));
  if (!opts.fix) {
    return { code: EXIT_CODES[before.verdict], report: before, json: reportJson(before), fixed: [], left: [] };
  }
  const plan = planRepairs(results, facts);
  const fixed = await applyRepairs(plan, facts);
  print(['', ...renderFixes(fixed, plan.left, ctx.style)]);
  let after = before;
  if (fixed.length > 0) {
    after = await checkOnce(ctx, deps, warnings, checks);
    print(['', ctx.style.bold('after --fix:'), ...renderReport(after, ctx.style)]);
  }
  return { code: EXIT_CODES[after.verdict], report: after, json: reportJson(after, { before, applied: fixed, left: plan.left }), fixed, left: plan.left };
}
