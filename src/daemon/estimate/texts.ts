// What a tokenizer needs to estimate an OpenAI chat or completions exchange that carried no usage:
// the prompt's texts (from the request) and the completion's text (from the stream). Pure.
import type { SseEvent } from '../../core/exchange.js';

export type Encoding = 'o200k_base' | 'cl100k_base';

export interface EstimateInput {
  encoding: Encoding;
  /** Texts of the prompt, each tokenized separately. */
  promptTexts: string[];
  /** Fixed tokens the chat format adds around messages (OpenAI's documented counting rule). */
  promptOverhead: number;
  completionText: string;
}

/** gpt-4o, gpt-4.1, gpt-5, o-series and newer use o200k_base; gpt-3.5 / gpt-4 use cl100k_base. */
export function encodingFor(model: string | null): Encoding {
  const m = (model ?? '').toLowerCase();
  if (/^(gpt-3\.5|gpt-4(-|$)|gpt-4-turbo|text-embedding|davinci|babbage)/.test(m) && !m.startsWith('gpt-4o') && !m.startsWith('gpt-4.')) return 'cl100k_base';
  return 'o200k_base';
}

function record(v: unknown): Record<string, unknown> | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function contentTexts(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  const out: string[] = [];
  for (const part of content) {
    const p = record(part);
    if (p && typeof p.text === 'string') out.push(p.text);
  }
  return out;
}

/**
 * Chat: 3 tokens per message plus its role, content and name (+1), plus 3 priming the reply —
 * OpenAI's published counting rule. Tool definitions are counted as their JSON text, which is an
 * approximation (the server's internal format is not published).
 */
export function chatPrompt(requestJson: unknown): { texts: string[]; overhead: number } {
  const req = record(requestJson);
  const texts: string[] = [];
  let overhead = 3;
  const messages = Array.isArray(req?.messages) ? req.messages : [];
  for (const m of messages) {
    const msg = record(m);
    if (!msg) continue;
    overhead += 3;
    if (typeof msg.role === 'string') texts.push(msg.role);
    texts.push(...contentTexts(msg.content));
    if (typeof msg.name === 'string') {
      texts.push(msg.name);
      overhead += 1;
    }
    if (Array.isArray(msg.tool_calls)) texts.push(JSON.stringify(msg.tool_calls));
  }
  if (Array.isArray(req?.tools) && req.tools.length) texts.push(JSON.stringify(req.tools));
  // Legacy completions: `prompt` is a string or a list of strings.
  if (typeof req?.prompt === 'string') texts.push(req.prompt);
  else if (Array.isArray(req?.prompt)) for (const p of req.prompt) if (typeof p === 'string') texts.push(p);
  if (typeof req?.prompt === 'string' || Array.isArray(req?.prompt)) overhead = 0;
  return { texts, overhead };
}

/** The streamed completion: content deltas, refusals, tool-call names and arguments, legacy `text`. */
export function streamedCompletion(events: readonly SseEvent[]): string {
  const parts: string[] = [];
  for (const ev of events) {
    if (!ev.data || ev.data === '[DONE]') continue;
    let chunk: unknown;
    try {
      chunk = JSON.parse(ev.data);
    } catch {
      continue;
    }
    const choices = record(chunk)?.choices;
    if (!Array.isArray(choices)) continue;
    for (const c of choices) {
      const choice = record(c);
      if (!choice) continue;
      if (typeof choice.text === 'string') parts.push(choice.text);
      const delta = record(choice.delta);
      if (!delta) continue;
      if (typeof delta.content === 'string') parts.push(delta.content);
      if (typeof delta.refusal === 'string') parts.push(delta.refusal);
      if (typeof delta.reasoning_content === 'string') parts.push(delta.reasoning_content);
      if (Array.isArray(delta.tool_calls)) {
        for (const t of delta.tool_calls) {
          const fn = record(record(t)?.function);
          if (typeof fn?.name === 'string') parts.push(fn.name);
          if (typeof fn?.arguments === 'string') parts.push(fn.arguments);
        }
      }
    }
  }
  return parts.join('');
}

export function estimateInput(requestJson: unknown, events: readonly SseEvent[], model: string | null): EstimateInput {
  const prompt = chatPrompt(requestJson);
  return { encoding: encodingFor(model), promptTexts: prompt.texts, promptOverhead: prompt.overhead, completionText: streamedCompletion(events) };
}
