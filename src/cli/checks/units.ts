// The units init installed, against what init writes now, and what the supervisor says about them.
// Hand edits are found by rendering the units again with the identity the installed file names
// (node, CLI bin, version) and the ports in force: a difference there is an edit (or a config change
// since the last init), shown as a diff; a file that only names another install or version is what
// an upgrade without init leaves. Both are "off": init rewrites the units and restarts the daemon.
// systemd: a unit systemd gave up on (start-limit-hit) or that failed means the component is not
// restarted any more; the fix is reset-failed and a clean init. Process mode: the supervisor is
// alive (else a crash is not restarted).
import { readText } from '../../service/files.js';
import { processUnitPath, renderProcessUnit } from '../../service/process-units.js';
import { diffLines } from '../../service/text-diff.js';
import { renderUnits, unitEnvironment, unitPath, UNIT_NAMES, type Component, type UnitInput } from '../../service/units.js';
import { tilde } from '../steps.js';
import { initFix, type Facts } from './facts.js';
import { fail, ok, warn, type Check, type CheckOutcome, type Fix } from './types.js';

const COMPONENTS: readonly Component[] = ['daemon', 'edge'];

/** ExecStart= arguments as systemd splits them (the quoting units.ts writes), unescaped. */
export function execStartArgs(unitText: string): string[] {
  const line = /^ExecStart=(.*)$/m.exec(unitText)?.[1] ?? '';
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ') i++;
    if (i >= line.length) break;
    let arg = '';
    if (line[i] === '"') {
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) i++;
        arg += line[i++];
      }
      i++;
    } else {
      while (i < line.length && line[i] !== ' ') arg += line[i++];
    }
    out.push(arg.replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  return out;
}

interface Identity {
  node: string;
  bin: string;
  version: string;
}

interface Finding {
  status: 'warn' | 'fail';
  text: string;
  fix: Fix | null;
  more?: string[];
}

/** Compares one installed unit with what init renders; findings or null when it is as init writes it. */
function compareUnit(f: Facts, c: Component, path: string, installed: string, identity: Identity | null, render: (id: Identity) => string): Finding | null {
  const name = tilde(path, f.ctx.config.paths.home);
  if (!identity) return { status: 'warn', text: `${name} cannot be read as a unit init wrote`, fix: initFix(f) };
  const same = render(identity);
  if (same !== installed) {
    const d = diffLines(same, installed);
    const shown = d.slice(0, 12).map((l) => `${l.op === '+' ? '+ added:  ' : '- removed:'} ${l.line}`);
    if (d.length > 12) shown.push(`… ${d.length - 12} more lines`);
    return { status: 'warn', text: `${name} differs from what init writes (edited by hand?)`, fix: initFix(f), more: shown };
  }
  const mine: Identity = { node: f.deps.node, bin: f.deps.bin, version: f.deps.version };
  if (identity.version !== mine.version || identity.bin !== mine.bin || identity.node !== mine.node) {
    const what = identity.version !== mine.version ? `halton-meter ${identity.version}` : `${identity.node} ${identity.bin}`;
    const now = identity.version !== mine.version ? mine.version : `${mine.node} ${mine.bin}`;
    return { status: 'warn', text: `${name} runs ${what}, this CLI is ${now} (an upgrade without init: the ${c} runs the other install)`, fix: initFix(f) };
  }
  return null;
}

function outcome(findings: Finding[], good: string): CheckOutcome {
  if (findings.length === 0) return ok(good);
  const worst = findings.find((x) => x.status === 'fail') ?? findings[0];
  const detail = [findings.map((x) => x.text).join('; '), ...findings.flatMap((x) => x.more ?? [])].join('\n');
  return worst.status === 'fail' ? fail(detail, worst.fix) : warn(detail, worst.fix);
}

function inputFor(f: Facts, id: Identity): UnitInput {
  return { ...id, ports: f.ports, env: unitEnvironment(f.ports, f.ctx.config.paths) };
}

function systemdUnits(f: Facts): CheckOutcome {
  const paths = f.ctx.config.paths;
  const findings: Finding[] = [];
  for (const c of COMPONENTS) {
    const path = unitPath(paths, c);
    const text = readText(path);
    if (text === null) {
      findings.push({ status: 'warn', text: `${tilde(path, paths.home)} is missing`, fix: initFix(f) });
      continue;
    }
    const args = execStartArgs(text);
    const version = /\(halton-meter ([^)\s]+)\)/.exec(text)?.[1];
    const identity = args.length >= 3 && version ? { node: args[0], bin: args[1], version } : null;
    const found = compareUnit(f, c, path, text, identity, (id) => renderUnits(inputFor(f, id))[c].text);
    if (found) findings.push(found);
  }
  const states: string[] = [];
  const view = f.view;
  for (const c of COMPONENTS) {
    const u = view?.units?.[c];
    if (!view || !u) continue;
    const name = UNIT_NAMES[c];
    states.push(`${name} ${view[c].detail}`);
    if (u.result === 'start-limit-hit') {
      findings.unshift({ status: 'fail', text: `${name}: systemd gave up restarting it (start-limit-hit)`, fix: f.fixes.resetFailed });
    } else if (u.activeState === 'failed') {
      findings.unshift({ status: 'fail', text: `${name} failed (result ${u.result || 'unknown'})`, fix: f.fixes.resetFailed });
    }
    if (u.loadState === 'not-found' && readText(unitPath(paths, c)) !== null) {
      findings.push({ status: 'warn', text: `${name} is not loaded (systemctl --user daemon-reload)`, fix: initFix(f) });
    } else if (u.needDaemonReload) {
      findings.push({ status: 'warn', text: `${name} changed on disk since systemd loaded it (daemon-reload needed)`, fix: initFix(f) });
    }
    if (u.loadState === 'loaded' && u.unitFileState !== 'enabled') {
      findings.push({ status: 'warn', text: `${name} is ${u.unitFileState || 'not enabled'}: it does not start at login`, fix: initFix(f) });
    }
  }
  return outcome(findings, `both units as init writes them, enabled; ${states.join(', ')}`);
}

function processUnits(f: Facts): CheckOutcome {
  const paths = f.ctx.config.paths;
  const findings: Finding[] = [];
  for (const c of COMPONENTS) {
    const path = processUnitPath(paths, c);
    const text = readText(path);
    if (text === null) {
      findings.push({ status: 'warn', text: `${tilde(path, paths.home)} is missing`, fix: initFix(f) });
      continue;
    }
    let identity: Identity | null = null;
    try {
      const u = JSON.parse(text) as { argv?: unknown; written_by?: unknown };
      if (Array.isArray(u.argv) && typeof u.argv[0] === 'string' && typeof u.argv[1] === 'string' && typeof u.written_by === 'string') {
        identity = { node: u.argv[0], bin: u.argv[1], version: u.written_by };
      }
    } catch {
      identity = null;
    }
    const found = compareUnit(f, c, path, text, identity, (id) => renderProcessUnit(inputFor(f, id), c));
    if (found) findings.push(found);
  }
  const view = f.view;
  const snap = view?.supervisor ?? null;
  if (view?.problem) {
    findings.unshift({ status: 'warn', text: `${view.problem}: nothing restarts the edge or the daemon if they crash`, fix: f.fixes.start });
  } else if (snap && (snap.version !== f.deps.version || snap.node !== f.deps.node || snap.bin !== f.deps.bin)) {
    findings.push({ status: 'warn', text: `the supervisor (pid ${snap.pid}) runs halton-meter ${snap.version} from ${snap.bin}; init replaces it`, fix: initFix(f) });
  }
  const who = view && snap && !view.problem ? `supervisor pid ${snap.pid}: edge ${view.edge.detail}, daemon ${view.daemon.detail}` : 'no supervisor';
  return outcome(findings, `halton-meter.json and halton-meter-edge.json as init writes them; ${who}`);
}

export const unitsCheck: Check = {
  id: 'units',
  title: 'units',
  run(f) {
    if (f.mode === null || !f.view) return null;
    if (f.mode === 'systemd' && f.view.problem) return null;
    return f.mode === 'systemd' ? systemdUnits(f) : processUnits(f);
  },
};
