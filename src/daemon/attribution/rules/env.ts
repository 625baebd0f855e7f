// Rule 2: HALTON_PROJECT in the client process's environment (/proc/PID/environ: the environment
// the process started with). Readable only for the daemon's own user's processes; for others the
// environment is empty and this rule has nothing to say.
import { normaliseSlug } from '../../../core/slug.js';
import type { Rule } from './rule.js';

export const PROJECT_ENV = 'HALTON_PROJECT';

export const envRule: Rule = {
  name: 'env',
  slug: (input) => normaliseSlug(input.process?.env.get(PROJECT_ENV)),
};
