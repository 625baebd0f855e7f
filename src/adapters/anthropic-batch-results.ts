// Anthropic Message Batches results: GET /v1/messages/batches/{id}/results answers JSONL, one
// `{custom_id, result}` per request. Batched requests are billed when their results exist, so the
// download is the one place their usage is seen: one row for the download, one record per
// succeeded line, each billed as the model that line names. errored / canceled / expired lines
// carry no usage and are not billed. The batch discount and de-duplication of repeated downloads of
// the same batch (same providerRequestId `batch:<id>`) are the meter's.
import type { Exchange } from '../core/exchange.js';
import type { ParsedUsage } from '../core/parsed.js';
import { meteredHost } from '../core/providers.js';
import type { UsageRecord } from '../core/usage.js';
import { anthropicRecords } from './anthropic.js';
import { recordAt, stringAt, tryParseJson } from './json-util.js';
import { defineAdapter, header, isSuccess, normaliseTarget, observerGap, resultOf, upstreamErrorResult } from './types.js';

const RESULTS_PATH = /^\/v1\/messages\/batches\/([A-Za-z0-9_-]+)\/results$/;

const RESULT_TYPES = ['succeeded', 'errored', 'canceled', 'expired'] as const;
type ResultType = (typeof RESULT_TYPES)[number];

function batchIdOf(host: string, path: string): string | null {
  return RESULTS_PATH.exec(normaliseTarget(host, path).path)?.[1] ?? null;
}

export const anthropicBatchResultsAdapter = defineAdapter({
  id: 'anthropic-batch-results',
  provider: 'anthropic',
  matches(host, method, path) {
    if (meteredHost(normaliseTarget(host, path).host)?.provider !== 'anthropic') return null;
    return method.toUpperCase() === 'GET' && batchIdOf(host, path) !== null ? 'batch_results' : null;
  },
  parse: parseBatchResults,
});

interface LineUsage {
  custom_id: string | null;
  model: string | null;
  usage: unknown;
}

function parseBatchResults(exchange: Exchange): ParsedUsage {
  const { response } = exchange;
  const batchId = batchIdOf(exchange.host, exchange.path);
  if (!isSuccess(response.status)) {
    // Not `batch:<id>`: a failed download must not stand in for the batch when the meter de-duplicates.
    const body = response.bodyText === null ? undefined : tryParseJson(response.bodyText);
    return upstreamErrorResult(response.status, body, header(response, 'request-id'));
  }
  const counts: Record<ResultType, number> = { succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  const results: LineUsage[] = [];
  const records: UsageRecord[] = [];
  let unreadable = 0;
  let serviceTier: string | null = null;
  const lines = (response.bodyText ?? '').split('\n');
  for (const line of lines) {
    if (line.trim() === '') continue;
    const obj = tryParseJson(line);
    const result = recordAt(obj, 'result');
    const type = RESULT_TYPES.find((t) => t === stringAt(result, 'type'));
    if (type === undefined) {
      unreadable++;
      continue;
    }
    counts[type]++;
    if (type !== 'succeeded') continue;
    const message = recordAt(result, 'message');
    const model = stringAt(message, 'model');
    const usage = recordAt(message, 'usage');
    const recs = usage === null ? null : anthropicRecords(usage);
    if (recs === null || model === null) {
      unreadable++;
      continue;
    }
    // Iterations without their own model are the line's model; the exchange has none of its own.
    for (const r of recs) records.push({ model: r.model ?? model, usage: r.usage });
    results.push({ custom_id: stringAt(obj, 'custom_id'), model, usage });
    serviceTier ??= stringAt(usage, 'service_tier');
  }
  let reason = observerGap(response);
  if (reason === null && response.bodyText === null) reason = 'response body not captured';
  if (reason === null && unreadable > 0) reason = `${unreadable} result lines without readable usage`;
  if (reason === null && records.length === 0) reason = 'no succeeded results (errored, canceled and expired requests are not billed)';
  const readAny = results.length > 0;
  return resultOf({
    // The row shows one model; every record names its own, which is what is priced.
    model: results[0]?.model ?? null,
    records: readAny ? records : null,
    usageJson: readAny || Object.values(counts).some((n) => n > 0) ? { counts, results } : null,
    errorClass: null,
    providerRequestId: batchId === null ? null : `batch:${batchId}`,
    serviceTier,
    reason,
  });
}
