// The API's query thread: one read-only connection, queries by name (queries.ts). Aggregates over a
// big table take hundreds of milliseconds; here they cannot stall a stream on the proxy's thread.
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage, MeterError } from '../../core/errors.js';
import { loadBundledTable, type OverrideRule } from '../../pricing/index.js';
import { openDb, type Db } from '../../store/index.js';
import { QUERIES, type QueryContext, type QueryName } from './queries.js';

export interface QueryWorkerData {
  dbPath: string;
  overrides: readonly OverrideRule[];
}

export interface QueryRequest {
  id: number;
  name: QueryName;
  args: unknown;
}

export type QueryReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; code: string; message: string; hint: string | null };

const data = workerData as QueryWorkerData;
const table = loadBundledTable();
let db: Db | null = null;

// Opened on first use: the daemon creates and migrates the file before the API can be asked.
function context(): QueryContext {
  db ??= openDb(data.dbPath, { readonly: true });
  return { db, table, overrides: data.overrides, now: () => new Date() };
}

parentPort?.on('message', (req: QueryRequest) => {
  let reply: QueryReply;
  try {
    const fn = QUERIES[req.name] as (ctx: QueryContext, args: unknown) => unknown;
    reply = { id: req.id, ok: true, value: fn(context(), req.args) };
  } catch (err) {
    reply =
      err instanceof MeterError
        ? { id: req.id, ok: false, code: err.code, message: err.message, hint: err.hint ?? null }
        : { id: req.id, ok: false, code: 'internal', message: errorMessage(err), hint: null };
  }
  parentPort?.postMessage(reply);
});
