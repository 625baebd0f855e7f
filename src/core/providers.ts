// The table of what halton-meter decrypts (SPEC §2). Everything not listed here is tunnelled raw.
// Pure data: the edge reads it to know which CONNECT targets need the daemon before the daemon has
// told it (the daemon's /health list wins once known).

export const PROVIDER_IDS = ['anthropic', 'openai', 'gemini', 'xai', 'selftest'] as const;
export type ProviderId = (typeof PROVIDER_IDS)[number];

/** How a provider's traffic is billed: pay-per-token API, or subscription traffic priced API-equivalent. */
export const MODES = ['api', 'codex', 'code-assist'] as const;
export type Mode = (typeof MODES)[number];

export const SELFTEST_HOST = 'selftest.halton-meter.internal';
export const SELFTEST_PROJECT = 'halton-meter:selftest';

export interface MeteredHost {
  readonly host: string;
  readonly provider: ProviderId;
  readonly mode: Mode;
}

export const METERED_HOSTS: readonly MeteredHost[] = [
  { host: 'api.anthropic.com', provider: 'anthropic', mode: 'api' },
  { host: 'api.openai.com', provider: 'openai', mode: 'api' },
  { host: 'chatgpt.com', provider: 'openai', mode: 'codex' },
  { host: 'generativelanguage.googleapis.com', provider: 'gemini', mode: 'api' },
  { host: 'cloudcode-pa.googleapis.com', provider: 'gemini', mode: 'code-assist' },
  { host: 'api.x.ai', provider: 'xai', mode: 'api' },
  { host: SELFTEST_HOST, provider: 'selftest', mode: 'api' },
];

const byHost = new Map(METERED_HOSTS.map((h) => [h.host, h]));

export function meteredHost(host: string): MeteredHost | undefined {
  return byHost.get(host.toLowerCase());
}

export function interceptHostNames(): string[] {
  return METERED_HOSTS.map((h) => h.host);
}
