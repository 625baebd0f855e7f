// The shape every link of the chain has. A rule answers from what is already known — the proxy
// user and the facts the worker read about the client process — so evaluating the chain is pure;
// all /proc and file-system reading happens in the worker (see ../context.ts).
import type { AttributionRule } from '../../../core/request-row.js';
import type { ClientProcess } from '../proc-scan.js';

export interface ChainInput {
  /** User name from Proxy-Authorization, as sent (not yet normalised). */
  proxyUser: string | null;
  /** The client process, or null when it was not found (exited, or another network namespace). */
  process: ClientProcess | null;
}

/** The rules that can win from evidence; `default` and `unresolved` are the chain's end, not links. */
export type ChainRuleName = Exclude<AttributionRule, 'default' | 'unresolved' | 'selftest'>;

export interface Rule {
  readonly name: ChainRuleName;
  /** A valid slug, or null to let the next rule answer (no evidence, or evidence that is not a slug). */
  slug(input: ChainInput): string | null;
}
