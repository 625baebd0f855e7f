// `halton-meter env [--shell bash|fish] [--project S]`: the variables to eval.
import { ensureCa } from '../../ca/index.js';
import { MeterError } from '../../core/errors.js';
import { normaliseSlug } from '../../core/slug.js';
import { writeCaBundle } from '../../service/ca-bundle.js';
import { clientEnv, renderEnv, type Shell } from '../../service/env.js';
import type { CliContext } from '../context.js';

export function parseShell(value: string | undefined): Shell {
  if (value === undefined || value === 'bash' || value === 'sh' || value === 'zsh') return 'bash';
  if (value === 'fish') return 'fish';
  throw new MeterError('bad_argument', `unknown shell "${value}"`, 'use --shell bash or --shell fish');
}

export function parseProject(value: string | undefined): string | null {
  if (value === undefined) return null;
  const slug = normaliseSlug(value);
  if (!slug) throw new MeterError('bad_argument', `"${value}" is not a valid project slug`, 'use lowercase letters, digits and . _ : / - (at most 64)');
  return slug;
}

export async function envCommand(ctx: CliContext, opts: { shell?: string; project?: string }): Promise<number> {
  const shell = parseShell(opts.shell);
  const project = parseProject(opts.project);
  // The variables name files: make sure they exist before anyone evals them.
  const { ca } = await ensureCa(ctx.config.paths.caDir);
  writeCaBundle(ctx.config.paths.caBundle, ca.certPem);
  process.stdout.write(renderEnv(clientEnv(ctx.config, ctx.ports().edge, project), shell));
  return 0;
}
