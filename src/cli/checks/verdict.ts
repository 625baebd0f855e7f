// The verdict, from the statuses alone (types.ts says what each status means):
//   BROKEN        some check failed: traffic is not being metered, or cannot flow;
//   INCONSISTENT  nothing failed, some check warned: the meter works but something is off;
//   HEALTHY       every check is ok. A warning is never HEALTHY: each one names something to do.
// Exit codes: 0 HEALTHY, 1 INCONSISTENT, 2 BROKEN.
import type { CheckResult } from './types.js';

export const VERDICTS = ['HEALTHY', 'INCONSISTENT', 'BROKEN'] as const;
export type Verdict = (typeof VERDICTS)[number];

export function verdictOf(results: ReadonlyArray<Pick<CheckResult, 'status'>>): Verdict {
  if (results.some((r) => r.status === 'fail')) return 'BROKEN';
  if (results.some((r) => r.status === 'warn')) return 'INCONSISTENT';
  return 'HEALTHY';
}

export const EXIT_CODES: Readonly<Record<Verdict, number>> = { HEALTHY: 0, INCONSISTENT: 1, BROKEN: 2 };
