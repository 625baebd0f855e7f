// `halton-meter bodies stats [--json]`: what opt-in body capture has stored (docs/body-capture.md):
// bodies, bytes and bodies with redactions, per project, and how to turn capture off.
// `halton-meter bodies capture <project> on|off`: the project_settings switch (the other switch is
// `body_capture` in the project's .haltonrc). Reads and writes SQLite directly: no daemon needed.
// Registered by main.ts through registerBodiesCommand.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export interface BodiesStatsOptions {
  json?: boolean;
}

export function registerBodiesCommand(program: Command): void {
  const bodies = program.command('bodies').description('opt-in body capture: what is stored, and the per-project switch (docs/body-capture.md)');
  bodies
    .command('stats')
    .description('captured (redacted) bodies: count, bytes and redactions per project, and projects with capture on')
    .option('--json', 'print the figures as JSON')
    .action((o: BodiesStatsOptions) => run((ctx) => bodiesStatsCommand(ctx, o)));
  bodies
    .command('capture')
    .description('turn body capture on or off for a project in project_settings (a .haltonrc body_capture line is separate)')
    .argument('<project>', 'project slug')
    .argument('<state>', 'on or off')
    .option('--redact-emails', 'with on: also replace e-mail addresses in this project\'s bodies')
    .action((project: string, state: string, o: { redactEmails?: boolean }) => run((ctx) => bodiesCaptureCommand(ctx, project, state, o)));
}

async function run(fn: (ctx: CliContext) => Promise<number>): Promise<void> {
  const [{ makeContext }, { isMeterError, errorMessage }] = await Promise.all([import('../context.js'), import('../../core/errors.js')]);
  let code: number;
  try {
    code = await fn(makeContext(process.env));
  } catch (e) {
    if (isMeterError(e)) {
      process.stderr.write(`halton-meter: ${e.message}\n${e.hint ? `  ${e.hint}\n` : ''}`);
      code = e.code === 'bad_argument' ? 2 : 1;
    } else {
      process.stderr.write(`halton-meter: unexpected error: ${errorMessage(e)}\n`);
      code = 1;
    }
  }
  process.exitCode = code;
}

const OFF_HINT =
  'to turn capture off: remove `body_capture` from the project\'s .haltonrc (or set it to "off") and run `halton-meter bodies capture <project> off`; ' +
  'stored bodies stay until deleted: sqlite3 ~/.halton-meter/db.sqlite "DELETE FROM request_bodies"';

export async function bodiesStatsCommand(ctx: CliContext, o: BodiesStatsOptions): Promise<number> {
  const { openDb, bodiesStats, projectsWithSetting } = await import('../../store/index.js');
  const path = ctx.config.paths.db;
  const empty = { bodies: 0, bytes: 0, redacted: 0, projects: [] as ReturnType<typeof bodiesStats>['projects'] };
  let stats = empty;
  let captureOn: string[] = [];
  if (existsSync(path)) {
    const db = openDb(path, { readonly: true });
    try {
      stats = bodiesStats(db);
      captureOn = projectsWithSetting(db, 'body_capture', 'on');
    } finally {
      db.close();
    }
  }
  if (o.json) {
    ctx.out(JSON.stringify({ ...stats, capture_on_in_project_settings: captureOn, how_to_turn_off: OFF_HINT }, null, 2));
    return 0;
  }
  const lines: string[] = [];
  lines.push(`captured bodies: ${stats.bodies} (${formatBytes(stats.bytes)}), ${stats.redacted} with secrets redacted`);
  if (stats.projects.length > 0) {
    const w = Math.max(7, ...stats.projects.map((p) => p.project.length));
    lines.push('');
    lines.push(`${'project'.padEnd(w)}  ${'bodies'.padStart(8)}  ${'bytes'.padStart(10)}  ${'redacted'.padStart(8)}  last`);
    for (const p of stats.projects) {
      lines.push(`${p.project.padEnd(w)}  ${String(p.bodies).padStart(8)}  ${formatBytes(p.bytes).padStart(10)}  ${String(p.redacted).padStart(8)}  ${p.last ?? ''}`);
    }
  }
  lines.push('');
  lines.push(`capture on in project_settings: ${captureOn.length > 0 ? captureOn.join(', ') : 'none'} (a .haltonrc with body_capture = "on" also turns it on)`);
  lines.push(OFF_HINT);
  ctx.out(lines.join('\n'));
  return 0;
}

export async function bodiesCaptureCommand(ctx: CliContext, project: string, state: string, o: { redactEmails?: boolean } = {}): Promise<number> {
  const [{ openDb, ensureProject, setProjectSetting }, { MeterError }, { normaliseSlug }] = await Promise.all([
    import('../../store/index.js'),
    import('../../core/errors.js'),
    import('../../core/slug.js'),
  ]);
  const s = state.trim().toLowerCase();
  if (s !== 'on' && s !== 'off') throw new MeterError('bad_argument', `state must be on or off, not "${state}"`);
  const slug = normaliseSlug(project);
  if (!slug) throw new MeterError('bad_argument', `"${project}" is not a valid project slug`);
  const db = openDb(ctx.config.paths.db);
  try {
    if (s === 'on') ensureProject(db, slug);
    setProjectSetting(db, slug, 'body_capture', s === 'on' ? 'on' : null);
    setProjectSetting(db, slug, 'body_capture_emails', s === 'on' && o.redactEmails ? 'on' : null);
  } finally {
    db.close();
  }
  ctx.out(
    s === 'on'
      ? `body capture on for ${slug}: request and response bodies are stored redacted${o.redactEmails ? ', e-mail addresses too' : ''} (takes effect within 5 s)`
      : `body capture off for ${slug} in project_settings (a .haltonrc body_capture line still applies)`,
  );
  return 0;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
