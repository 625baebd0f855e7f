// Clients that refuse the meter's certificate (a runtime that ignores the CA variables: a Go or Java
// binary, a pinned client) must keep working. When a client rejects the handshake for a host, its
// process is remembered for a while and its next connections to that host are tunnelled raw —
// unmetered, but never broken. Most clients retry a failed connection, so only one attempt fails.
// The lookup of the process is only awaited on CONNECT when some client has failed for that host,
// so the normal path never waits for it.

const REMEMBER_MS = 10 * 60_000;

/** TLS alerts a client sends when it does not trust the certificate it was shown. */
export function isTrustRejection(err: unknown): boolean {
  const text = err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}` : String(err);
  return /alert (number )?(42|46|48)\b|UNKNOWN_CA|CERTIFICATE_UNKNOWN|BAD_CERTIFICATE|unknown ca|certificate unknown|bad certificate/i.test(text);
}

export class UntrustingClients {
  private readonly entries = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  private key(clientKey: string, host: string): string {
    return `${clientKey}\u0000${host}`;
  }

  remember(clientKey: string, host: string): void {
    this.entries.set(this.key(clientKey, host), this.now() + REMEMBER_MS);
  }

  /** Whether any client failed recently for this host (cheap: decides whether to look closer). */
  anyFor(host: string): boolean {
    const now = this.now();
    for (const [k, until] of this.entries) {
      if (until <= now) this.entries.delete(k);
      else if (k.endsWith(`\u0000${host}`)) return true;
    }
    return false;
  }

  has(clientKey: string, host: string): boolean {
    const until = this.entries.get(this.key(clientKey, host));
    return until !== undefined && until > this.now();
  }
}

/**
 * Which clients are "the same" for this memory: the program name within a project. A CLI tool run
 * again (a new pid each time) is covered, and one failing program does not unmeter every other
 * program, or the same program in other projects.
 */
export function clientKeyOf(name: string | null, project: string): string | null {
  return name ? `${name}|${project}` : null;
}
