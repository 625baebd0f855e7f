// The daemon's side of the query thread: run(name, args) posts a query and resolves with its JSON.
// A thread that dies is started again on the next query; queries in flight then fail (503), the
// proxy is unaffected.
import { Worker } from 'node:worker_threads';
import { asErrorCode, MeterError } from '../../core/errors.js';
import type { QueryArgs, QueryName, QueryResult } from './queries.js';
import type { QueryReply, QueryRequest, QueryWorkerData } from './query-worker.js';

export interface QueryRunner {
  run<N extends QueryName>(name: N, args: QueryArgs<N>): Promise<QueryResult<N>>;
  close(): Promise<void>;
}

export function startQueryWorker(data: QueryWorkerData, timeoutMs = 30_000): QueryRunner {
  let worker: Worker | null = null;
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  const failAll = (why: string): void => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new MeterError('unavailable', why));
    }
    pending.clear();
  };

  const get = (): Worker => {
    if (worker) return worker;
    const w = new Worker(new URL('./query-worker.js', import.meta.url), { workerData: data });
    w.unref();
    w.on('message', (r: QueryReply) => {
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      clearTimeout(p.timer);
      if (r.ok) p.resolve(r.value);
      else p.reject(new MeterError(asErrorCode(r.code), r.message, r.hint ?? undefined));
    });
    const gone = (why: string): void => {
      if (worker === w) worker = null;
      failAll(why);
    };
    w.on('error', (e) => gone(`query thread failed: ${e.message}`));
    w.on('exit', () => gone('query thread stopped'));
    worker = w;
    return w;
  };

  return {
    run<N extends QueryName>(name: N, args: QueryArgs<N>): Promise<QueryResult<N>> {
      return new Promise<QueryResult<N>>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new MeterError('unavailable', `query ${name} took longer than ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: (v) => resolve(v as QueryResult<N>), reject, timer });
        const msg: QueryRequest = { id, name, args };
        get().postMessage(msg);
      });
    },
    async close(): Promise<void> {
      const w = worker;
      worker = null;
      failAll('daemon stopping');
      if (w) await w.terminate();
    },
  };
}
