// Point lookups the daemon needs while metering.
import type { Db } from './db.js';

/** The id of an earlier row with this provider request id and kind, or null. */
export function findRequestByProviderId(db: Db, providerRequestId: string, requestKind: string): string | null {
  const row = db
    .prepare<{ id: string }>('SELECT id FROM requests WHERE provider_request_id = ? AND request_kind = ? ORDER BY requested_at LIMIT 1')
    .get(providerRequestId, requestKind);
  return row?.id ?? null;
}
