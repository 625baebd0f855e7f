// Token estimates for OpenAI chat/completions streams that carried no usage (the client did not ask
// for include_usage). The wire stays untouched; the row says usage_source = estimated.
import { Worker } from 'node:worker_threads';
import type { Usage } from '../../core/usage.js';
import type { EstimateInput } from './texts.js';
import type { EstimateReply, EstimateRequest } from './worker.js';

export { estimateInput } from './texts.js';

let worker: Worker | null = null;
let nextId = 1;
const pending = new Map<number, (r: EstimateReply) => void>();

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL('./worker.js', import.meta.url));
  w.unref();
  w.on('message', (r: EstimateReply) => {
    pending.get(r.id)?.(r);
    pending.delete(r.id);
  });
  const fail = (): void => {
    worker = null;
    for (const [id, resolve] of pending) resolve({ id, promptTokens: null, completionTokens: null, error: 'tokenizer worker stopped' });
    pending.clear();
  };
  w.on('error', fail);
  w.on('exit', fail);
  worker = w;
  return w;
}

/** Estimated usage, or null with nothing to go on. Input is all prompt (no cache is known). */
export function estimateUsage(input: EstimateInput, timeoutMs = 10_000): Promise<Usage | null> {
  return new Promise((resolve) => {
    const id = nextId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      resolve(null);
    }, timeoutMs);
    pending.set(id, (r) => {
      clearTimeout(timer);
      if (r.promptTokens === null || r.completionTokens === null) return resolve(null);
      resolve({
        inputTokens: r.promptTokens,
        cacheReadTokens: 0,
        cacheWrite5mTokens: 0,
        cacheWrite1hTokens: 0,
        outputTokens: r.completionTokens,
        thinkingTokens: 0,
        webSearchRequests: 0,
      });
    });
    const req: EstimateRequest = { id, input };
    try {
      getWorker().postMessage(req);
    } catch {
      pending.delete(id);
      clearTimeout(timer);
      resolve(null);
    }
  });
}
