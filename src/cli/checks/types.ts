// What a doctor check is and what it returns. Every check looks at one layer of the installation
// and says ok / warn / fail with a one-line detail and, when something is wrong, the next command to
// run. The verdict rule (verdict.ts) depends only on the statuses, so each check decides what its
// finding means by the status it picks:
//   fail  traffic is not being metered or cannot flow (daemon down, edge down, port taken, CA gone);
//   warn  the meter works but something is off that init or the user should fix (a unit edited by
//         hand, a certifi bundle without the marker, a stale env file, linger off);
//   ok    nothing to do. Facts that need no action (the edge runs an older version, by design) are
//         ok with a detail, never warn.
import type { Facts } from './facts.js';

export const CHECK_STATUSES = ['ok', 'warn', 'fail'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** What `--fix` does for an automatic fix: run init in-process, or start what is down. */
export type RepairAction = 'init' | 'start';

export interface Fix {
  /** A command the user can paste (a `# comment` may follow it). */
  command: string;
  /** `doctor --fix` applies it. Never for anything that kills, deletes, or creates a new CA. */
  automatic: boolean;
  /** Set exactly when automatic. Not part of the JSON output. */
  action?: RepairAction;
}

export interface CheckOutcome {
  status: CheckStatus;
  /** One line; further lines (a diff) are indented when printed. */
  detail: string;
  fix: Fix | null;
}

export interface CheckResult extends CheckOutcome {
  id: string;
  title: string;
}

export interface Check {
  id: string;
  title: string;
  /** null: the check does not apply here (linger under systemd only, the self-test when both run). */
  run(facts: Facts): Promise<CheckOutcome | null> | CheckOutcome | null;
}

export const ok = (detail: string): CheckOutcome => ({ status: 'ok', detail, fix: null });
export const warn = (detail: string, fix: Fix | null): CheckOutcome => ({ status: 'warn', detail, fix });
export const fail = (detail: string, fix: Fix | null): CheckOutcome => ({ status: 'fail', detail, fix });

export const manual = (command: string): Fix => ({ command, automatic: false });
