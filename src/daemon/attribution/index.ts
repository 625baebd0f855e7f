// The attribution chain (SPEC §4): the first rule that yields a valid slug wins, and the row records
// which one. One file per rule under rules/, in the order of CHAIN below; `default` (the configured
// project) ends it, or `unresolved` when the client process was never found (it had exited, or it
// lives where /proc cannot see it). docs/attribution.md explains each rule for users.
//
// Rules 2-7 answer from facts about the client process that the lookup worker gathered the moment
// it found the process (client-process.ts, context.ts): evaluating the chain here is pure.
import type { AttributionRule } from '../../core/request-row.js';
import { normaliseSlug } from '../../core/slug.js';
import { findClientProcess, type ClientAddress, type ClientProcess } from './client-process.js';
import { containerRule } from './rules/container.js';
import { cwdRule } from './rules/cwd.js';
import { envRule } from './rules/env.js';
import { gitRootRule } from './rules/git-root.js';
import { haltonrcRule } from './rules/haltonrc.js';
import { ideWorkspaceRule } from './rules/ide-workspace.js';
import { proxyUserRule } from './rules/proxy-user.js';
import type { ChainInput, Rule } from './rules/rule.js';

export { proxyUserFromHeader } from './rules/proxy-user.js';
export type { ChainInput } from './rules/rule.js';

export interface Attribution {
  slug: string;
  rule: AttributionRule;
  clientPid: number | null;
  clientName: string | null;
  /** The `.haltonrc` naming the chosen project turns body capture on (docs/body-capture.md). */
  bodyCapture?: boolean;
}

export interface AttributionInput {
  /** User name from Proxy-Authorization (HTTPS_PROXY=http://billing@127.0.0.1:8081). */
  proxyUser: string | null;
  client: ClientAddress | null;
}

export interface AttributionDeps {
  defaultProject: string;
  ownPid: number;
  lookupProcess?: (client: ClientAddress) => Promise<ClientProcess | null>;
}

/** SPEC §4, in order. */
export const CHAIN: readonly Rule[] = [proxyUserRule, envRule, haltonrcRule, ideWorkspaceRule, gitRootRule, containerRule, cwdRule];

/** Runs the chain over what is known about one connection. Pure. */
export function chooseAttribution(input: ChainInput, defaultProject: string): Attribution {
  const clientPid = input.process?.pid ?? null;
  const clientName = input.process?.name ?? null;
  for (const rule of CHAIN) {
    const slug = rule.slug(input);
    // bodyCapture is present only when on, so the usual result keeps its shape.
    if (slug) return { slug, rule: rule.name, clientPid, clientName, ...(haltonrcCapture(input, slug) ? { bodyCapture: true } : {}) };
  }
  return { slug: defaultProject, rule: input.process ? 'default' : 'unresolved', clientPid, clientName };
}

/** Body capture from .haltonrc counts only for the project that same file names. */
function haltonrcCapture(input: ChainInput, slug: string): boolean {
  const rc = input.process?.context?.haltonrc;
  return !!rc?.bodyCapture && normaliseSlug(rc.project) === slug;
}

export async function resolveAttribution(input: AttributionInput, deps: AttributionDeps): Promise<Attribution> {
  const lookup = deps.lookupProcess ?? ((c: ClientAddress) => findClientProcess(c, deps.ownPid));
  // The process is looked up even when the proxy user wins: the row still names the client.
  const proc = input.client ? await lookup(input.client).catch(() => null) : null;
  return chooseAttribution({ proxyUser: input.proxyUser, process: proc }, deps.defaultProject);
}
