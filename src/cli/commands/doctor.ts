// `halton-meter doctor [--json] [--fix]`: every layer checked (src/cli/checks/, one check per file),
// a ✓ / ! / ✗ line each with the next command to run, and a verdict: HEALTHY (exit 0), INCONSISTENT
// (exit 1: the meter works but something is off) or BROKEN (exit 2: traffic is not metered or cannot
// flow). `--fix` applies the safe repairs, then checks again. Registered by main.ts through
// registerDoctorCommand; the checks are imported only when doctor runs.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { DoctorOptions } from '../checks/run.js';

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check every layer (config, CA, files, certifi, ports, edge, daemon, units, database) and say what to run; verdict HEALTHY, INCONSISTENT or BROKEN (exit 0, 1, 2)')
    .option('--json', 'print {verdict, checks, fixed} as JSON')
    .option('--fix', 'apply the safe repairs (start what is down; rewrite units, env files, ca-bundle.pem and certifi through init), then check again')
    .action(async (o: DoctorOptions) => {
      process.exitCode = await doctorCommand(process.env, o);
    });
}

/** Runs doctor against this installation and prints; returns the exit code of the final verdict. */
export async function doctorCommand(env: NodeJS.ProcessEnv, opts: DoctorOptions): Promise<number> {
  const [{ loadConfig, ENV_VARS }, { resolvePaths }, { mergeEffective, readEffectivePorts }, { isMeterError }, { makeStyle }] = await Promise.all([
    import('../../config/load.js'),
    import('../../config/paths.js'),
    import('../../config/effective-ports.js'),
    import('../../core/errors.js'),
    import('../output/style.js'),
  ]);
  const style = makeStyle(!opts.json && process.stdout.isTTY === true, env);
  const out = (t: string): void => {
    process.stdout.write(t.endsWith('\n') ? t : t + '\n');
  };
  const err = (t: string): void => {
    process.stderr.write(t.endsWith('\n') ? t : t + '\n');
  };
  let loaded;
  try {
    loaded = loadConfig({ env });
  } catch (e) {
    // A config.toml that does not load is itself the finding: nothing else can be looked at.
    if (!isMeterError(e) || e.code !== 'bad_config') throw e;
    const { configFailed } = await import('../checks/config.js');
    const { renderReport, reportJson } = await import('../checks/render.js');
    const { homedir } = await import('node:os');
    const paths = resolvePaths(env.HOME || homedir(), { dataDir: env[ENV_VARS.home] || undefined });
    const report = { verdict: 'BROKEN' as const, checks: [configFailed(paths.configFile, e.message, e.hint)] };
    out(opts.json ? JSON.stringify(reportJson(report), null, 2) : renderReport(report, style).join('\n'));
    return 2;
  }
  const { config, warnings } = loaded;
  const ctx: CliContext = {
    config,
    ports: () => mergeEffective(config, readEffectivePorts(config.paths.effectivePorts)),
    env,
    out,
    err,
    style,
  };
  const [{ realDeps }, { realDaemonStatus }, { runDoctor }] = await Promise.all([
    import('../service-deps.js'),
    import('../checks/facts.js'),
    import('../checks/run.js'),
  ]);
  const deps = { ...realDeps(ctx, false), daemonStatus: realDaemonStatus };
  const r = await runDoctor(ctx, deps, warnings, opts);
  if (opts.json) out(JSON.stringify(r.json, null, 2));
  return r.code;
}
