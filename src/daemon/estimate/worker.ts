// Tokenizer worker: counting a long prompt takes tens of milliseconds, which must not stall the
// daemon's sockets. Encodings load on first use.
import { parentPort } from 'node:worker_threads';
import type { Encoding, EstimateInput } from './texts.js';

export interface EstimateRequest {
  id: number;
  input: EstimateInput;
}

export interface EstimateReply {
  id: number;
  promptTokens: number | null;
  completionTokens: number | null;
  error: string | null;
}

type Counter = (text: string) => number;
const counters = new Map<Encoding, Counter>();

async function counter(enc: Encoding): Promise<Counter> {
  const known = counters.get(enc);
  if (known) return known;
  const mod = enc === 'cl100k_base' ? await import('gpt-tokenizer/encoding/cl100k_base') : await import('gpt-tokenizer/encoding/o200k_base');
  const fn: Counter = (t) => mod.countTokens(t);
  counters.set(enc, fn);
  return fn;
}

parentPort?.on('message', (req: EstimateRequest) => {
  void (async () => {
    try {
      const count = await counter(req.input.encoding);
      let prompt = req.input.promptOverhead;
      for (const t of req.input.promptTexts) prompt += count(t);
      const completion = count(req.input.completionText);
      parentPort?.postMessage({ id: req.id, promptTokens: prompt, completionTokens: completion, error: null } satisfies EstimateReply);
    } catch (err) {
      parentPort?.postMessage({ id: req.id, promptTokens: null, completionTokens: null, error: err instanceof Error ? err.message : String(err) } satisfies EstimateReply);
    }
  })();
});
