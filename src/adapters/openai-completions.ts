// Legacy OpenAI /v1/completions: `text_completion` objects, but usage, streaming (`[DONE]`,
// include_usage) and errors are chat-shaped, so it reuses the chat parser.
import { openAiMatcher, parseChatShape } from './openai-chat.js';
import { defineAdapter } from './types.js';

export const openAiCompletionsAdapter = defineAdapter({
  id: 'openai-completions',
  provider: 'openai',
  matches: openAiMatcher('/v1/completions', 'completions'),
  parse: parseChatShape,
});
