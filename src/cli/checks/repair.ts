// doctor --fix: applies the automatic fixes, and only those. Two repairs exist:
//   init   runs init in-process, the same flow `halton-meter init --non-interactive` runs (no
//          self-test): it rewrites the units, env files, ca-bundle.pem and the CA's public copies,
//          re-patches certifi, starts what is down and restarts the daemon when its unit changed;
//   start  starts what is down (and the process supervisor), like `halton-meter start`.
// Both are skipped when they could do harm: with mitmproxy-ca.pem gone or unusable (init and a
// daemon start would create a new CA that no client trusts), and, for init, while another process
// holds a port of the meter (init would move the meter to a fallback port apps do not point at).
// Nothing here kills a process, deletes a file, or creates a CA.
import { errorMessage } from '../../core/errors.js';
import { waitUntil } from '../../service/health.js';
import type { Component } from '../../service/units.js';
import type { CliContext } from '../context.js';
import { runInit } from '../init-flow.js';
import { foreignPorts, type Facts } from './facts.js';
import { nextSteps, type FixApplied, type FixLeft, type NextStep } from './render.js';
import type { CheckResult } from './types.js';

export interface RepairPlan {
  init: NextStep | null;
  start: (NextStep & { components: Component[] }) | null;
  left: FixLeft[];
}

/** Why a fix is left to the user. */
export function whyByHand(command: string): string {
  if (/^(kill |sudo ss )/.test(command)) return 'doctor never kills a process it did not start';
  if (/NEW CA/.test(command)) return 'doctor never creates a new CA: every client would have to trust it again';
  if (/reset-failed/.test(command)) return 'systemd gave up on the unit: read its log first (journalctl --user -u halton-meter.service -n 50), then run it';
  if (/^loginctl /.test(command)) return 'a login setting: doctor does not change it';
  if (/^npm install/.test(command)) return 'an upgrade is yours to run';
  if (/^mv /.test(command)) return 'doctor never moves or deletes data';
  return 'by hand';
}

export function planRepairs(results: readonly CheckResult[], f: Facts): RepairPlan {
  const left: FixLeft[] = [];
  let init: NextStep | null = null;
  let start: NextStep | null = null;
  const foreign = [...foreignPorts(f, 'edge'), ...foreignPorts(f, 'daemon')];
  const caUsable = f.ca.kind === 'ok';
  for (const s of nextSteps(results)) {
    if (!s.automatic || !s.action) {
      left.push({ command: s.command, checks: s.checks, reason: whyByHand(s.command) });
    } else if (s.action === 'init') {
      if (!caUsable) left.push({ command: s.command, checks: s.checks, reason: 'mitmproxy-ca.pem is not usable: init would create a new CA' });
      else if (foreign.length) {
        const h = foreign[0];
        left.push({ command: s.command, checks: s.checks, reason: `${h.name} holds 127.0.0.1:${h.port}: init would move the meter to a fallback port; free it first` });
      } else init = s;
    } else {
      start = s;
    }
  }
  if (start && init) {
    // init starts whatever is down itself.
    init = { ...init, checks: [...init.checks, ...start.checks] };
    return { init, start: null, left };
  }
  if (!start) return { init, start: null, left };
  const components: Component[] = [];
  if (!f.edge.up && foreignPorts(f, 'edge').length === 0) components.push('edge');
  if (!f.daemon.reachable && foreignPorts(f, 'daemon').length === 0 && caUsable && !f.view?.daemon.startLimitHit) components.push('daemon');
  const supervisorDown = f.mode === 'process' && f.view?.problem != null;
  if (components.length === 0 && !supervisorDown) {
    left.push({ command: start.command, checks: start.checks, reason: 'nothing can be started until the problems above are fixed' });
    return { init, start: null, left };
  }
  return { init, start: { ...start, components }, left };
}

function quiet(ctx: CliContext, lines: string[]): CliContext {
  const take = (t: string): void => {
    lines.push(...t.replace(/\n$/, '').split('\n'));
  };
  return { ...ctx, out: take, err: take };
}

export async function applyRepairs(plan: RepairPlan, f: Facts): Promise<FixApplied[]> {
  const applied: FixApplied[] = [];
  if (plan.init) {
    const output: string[] = [];
    const base = { action: 'init' as const, command: plan.init.command, checks: plan.init.checks };
    try {
      const r = await runInit(quiet(f.ctx, output), { apps: f.envd, nonInteractive: true, selftest: false }, f.deps);
      applied.push({
        ...base,
        ok: r.code === 0,
        detail: r.code !== 0 ? 'init finished with errors (see ✗ below)' : r.changes.length ? `changed: ${r.changes.join(', ')}` : 'nothing needed changing',
        output,
      });
    } catch (e) {
      const hint = (e as { hint?: string }).hint;
      applied.push({ ...base, ok: false, detail: `${errorMessage(e)}${hint ? ` (${hint})` : ''}`, output });
    }
  }
  if (plan.start) {
    const { components } = plan.start;
    const base = { action: 'start' as const, command: plan.start.command, checks: plan.start.checks, output: [] };
    const supervisor = f.mode === 'process' && f.view?.problem != null;
    try {
      if (f.driver && (components.length > 0 || supervisor)) await f.driver.start(components);
      const up = await waitUntil(
        async () =>
          (!components.includes('edge') || (await f.deps.probeEdge(f.ports.edge)).up) &&
          (!components.includes('daemon') || (await f.deps.probeDaemon(f.ports.api)).healthy),
        f.deps.healthTimeoutMs,
        200,
      );
      const what = [supervisor ? 'the process supervisor' : null, ...components.map((c) => `the ${c}`)].filter(Boolean).join(' and ');
      applied.push({ ...base, ok: up, detail: up ? `started ${what}` : `started ${what}, but it did not answer within ${f.deps.healthTimeoutMs / 1000} s` });
    } catch (e) {
      const hint = (e as { hint?: string }).hint;
      applied.push({ ...base, ok: false, detail: `${errorMessage(e)}${hint ? ` (${hint})` : ''}` });
    }
  }
  return applied;
}
