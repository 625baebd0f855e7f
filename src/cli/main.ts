// The command table (STYLE §10). Each command lives in commands/; this file wires flags to them and
// turns every failure into one clear line and a non-zero exit. Commands are imported when they run,
// not here: loading every command's modules cost each invocation ~60 ms of a ~120 ms start
// (`report --help` 119 -> 61 ms), which `report` over 1M rows (issue 5) paid too.
import { Command, CommanderError } from 'commander';
import { isMeterError, errorMessage } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { makeContext, type CliContext } from './context.js';
import type { ExplainOptions, ListOptions } from './commands/pricing.js';
import type { RecostOptions } from './commands/recost.js';
import { registerOpsCommands } from './commands/ops.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerBodiesCommand } from './commands/bodies.js';
import type { ReportOptions } from './commands/report.js';
import type { ProjectsDeps } from './commands/projects.js';
import { terminalWidth } from './output/table.js';

function fail(e: unknown): number {
  if (isMeterError(e)) {
    process.stderr.write(`halton-meter: ${e.message}\n${e.hint ? `  ${e.hint}\n` : ''}`);
    return e.code === 'bad_argument' ? 2 : 1;
  }
  process.stderr.write(`halton-meter: unexpected error: ${errorMessage(e)}\n  please report it with the output of: halton-meter --version\n`);
  return 1;
}

let ctxCache: CliContext | null = null;
function ctx(): CliContext {
  if (!ctxCache) ctxCache = makeContext(process.env);
  return ctxCache;
}

async function act(fn: () => Promise<number>): Promise<void> {
  let code: number;
  try {
    code = await fn();
  } catch (e) {
    code = fail(e);
  }
  process.exitCode = code;
}

export function buildProgram(): Command {
  const program = new Command('halton-meter')
    .description('Local cost meter for LLM APIs: point HTTPS_PROXY at it and every Claude, OpenAI, Gemini and xAI call is priced and recorded by project.')
    .version(VERSION, '-V, --version', 'print the version')
    .showSuggestionAfterError(true)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `halton-meter: ${s.slice(7)}` : s) });

  program
    .command('serve')
    .description('run the edge and the daemon in the foreground (Ctrl-C stops both)')
    .option('--logs', 'also print the JSON log lines of both processes')
    .option('--no-selftest', 'skip the self-test once the meter is up')
    .action((o: { logs?: boolean; selftest?: boolean }) => act(async () => (await import('./commands/serve.js')).serveCommand(ctx(), o)));

  program
    .command('selftest')
    .description('send one request through the edge to the built-in self-test host and check its row')
    .option('--json', 'print the result as JSON')
    .action((o: { json?: boolean }) => act(async () => (await import('./commands/selftest.js')).selftestCommand(ctx(), o)));

  program
    .command('env')
    .description('print the proxy and CA variables for eval "$(halton-meter env)"')
    .option('--shell <shell>', 'bash (default) or fish')
    .option('--project <slug>', 'put every call from this shell in project <slug>')
    .action((o: { shell?: string; project?: string }) => act(async () => (await import('./commands/env.js')).envCommand(ctx(), o)));

  program
    .command('run')
    .description('run one command through the meter (started first if needed)')
    .option('--project <slug>', 'attribute the calls to project <slug>')
    .argument('<command...>', 'the command and its arguments, after --')
    .passThroughOptions()
    .action((argv: string[], o: { project?: string }) => act(async () => (await import('./commands/run.js')).runCommand(ctx(), argv, o)));

  const pricing = program
    .command('pricing')
    .description('show the price table in force, or explain what a captured response costs');
  pricing
    .command('list')
    .description('the prices in force (bundled table and config.toml overrides), USD per million tokens')
    .option('--provider <provider>', 'only this provider: anthropic, openai, gemini or xai')
    .option('--at <date>', 'prices in force on this day (YYYY-MM-DD); default today')
    .option('--json', 'print the table as JSON')
    .action((o: ListOptions) => act(async () => (await import('./commands/pricing.js')).pricingListCommand(ctx(), o)));
  pricing
    .command('explain')
    .description('parse a captured response body (JSON or SSE, gzip too) and show its usage and cost line by line')
    .argument('[file]', 'the response body as received (curl -o FILE); - or nothing reads stdin')
    .option('--host <host>', 'the host the request went to (default: told from the body)')
    .option('--path <path>', 'the request path, e.g. /v1/messages (default: told from the body)')
    .option('--model <model>', 'the requested model, used when the response names none')
    .option('--at <date>', 'price at this day (YYYY-MM-DD) or ISO time; default now')
    .option('--json', 'print the explanation as JSON')
    .action((file: string | undefined, o: ExplainOptions) => act(async () => (await import('./commands/pricing.js')).pricingExplainCommand(ctx(), file, o)));

  program
    .command('recost')
    .description('re-price stored rows with the current table and overrides; old figures go to the audit trail')
    .option('--since <when>', 'only rows since 30m, 24h, 7d, 2w or a day YYYY-MM-DD (default: all rows)')
    .option('--dry-run', 'count what would change, write nothing')
    .option('--json', 'print the summary as JSON')
    .action((o: RecostOptions) => act(async () => (await import('./commands/recost.js')).recostCommand(ctx(), o)));

  program
    .command('report')
    .description('requests, tokens, cost and latency by project, model, provider or day (reads the database directly)')
    .option('--since <duration>', 'the last 30m, 24h, 7d or 2w (default 30d)')
    .option('--from <date>', 'from this day YYYY-MM-DD (UTC) or ISO time')
    .option('--to <date>', 'to this day, included (default now)')
    .option('--by <group>', 'project (default), model, provider or day')
    .option('--project <slug>', 'only this project (archived and self-test projects too)')
    .option('--vs-previous', 'compare with the period of the same length just before')
    .option('--include-selftest', 'include the self-test project')
    .option('--json', 'print the report as JSON')
    .option('--csv', 'print the groups as CSV')
    .action((o: ReportOptions) =>
      act(async () => {
        const { reportCommand, reportWidth } = await import('./commands/report.js');
        const c = ctx();
        return reportCommand({ dbPath: c.config.paths.db, out: c.out, err: c.err, style: c.style, width: reportWidth(terminalWidth(process.stdout), c.env), now: new Date() }, o);
      }),
    );

  const projects = program.command('projects').description('list, rename or archive projects');
  const projectsDeps = async (): Promise<ProjectsDeps> => {
    const { reportWidth } = await import('./commands/report.js');
    const c = ctx();
    return { dbPath: c.config.paths.db, out: c.out, style: c.style, width: reportWidth(terminalWidth(process.stdout), c.env) };
  };
  projects
    .command('list')
    .description('every project with its requests, all-time cost and state')
    .option('--json', 'print the list as JSON')
    .action((o: { json?: boolean }) => act(async () => (await import('./commands/projects.js')).projectsListCommand(await projectsDeps(), o)));
  projects
    .command('rename')
    .description('rename a project (its rows follow it)')
    .argument('<old>', 'the current slug')
    .argument('<new>', 'the new slug')
    .action((oldSlug: string, newSlug: string) => act(async () => (await import('./commands/projects.js')).projectsRenameCommand(await projectsDeps(), oldSlug, newSlug)));
  projects
    .command('archive')
    .description('hide a project from reports (its rows are kept; --project still shows it)')
    .argument('<slug>', 'the project')
    .action((slug: string) => act(async () => (await import('./commands/projects.js')).projectsArchiveCommand(await projectsDeps(), slug)));

  registerOpsCommands(program);
  registerDoctorCommand(program);
  registerBodiesCommand(program);

  program.command('daemon').description('run the intercepting daemon in the foreground (what the units run)');
  program.command('edge').description('run the edge proxy in the foreground (what the units run)');
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        process.exitCode = 0;
        return;
      }
      process.exitCode = e.code === 'commander.executeSubCommandAsync' ? 1 : 2;
      return;
    }
    process.exitCode = fail(e);
  }
}

await main();
