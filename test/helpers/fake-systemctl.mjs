#!/usr/bin/env node
// A recording stand-in for `systemctl` (and `loginctl`, when called by that name through
// FAKE_SYSTEMCTL_AS=loginctl): appends its argv as one JSON line to $FAKE_SYSTEMCTL_LOG and answers
// from a small JSON state file, $FAKE_SYSTEMCTL_STATE:
//   { "units": { "<name>": { "loaded": "<unit text at the last daemon-reload>" | null,
//                            "active": "active"|"inactive"|"failed", "result": "success"|...,
//                            "enabled": true|false, "pid": 123, "version": "0.1.0" } },
//     "linger": "yes"|"no", "system": "running"|"offline" }
// Unit files are read from $HOME/.config/systemd/user, like the real user manager does. `start`
// records the version named in the unit's header comment, so tests can tell an old daemon from a
// new one. No process is started: the tests' health probes read the same state file.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const logPath = process.env.FAKE_SYSTEMCTL_LOG;
const statePath = process.env.FAKE_SYSTEMCTL_STATE;
const as = process.env.FAKE_SYSTEMCTL_AS ?? 'systemctl';
if (logPath) appendFileSync(logPath, JSON.stringify([as, ...argv]) + '\n');
const state = statePath && existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) : {};
state.units ??= {};
const save = () => statePath && writeFileSync(statePath, JSON.stringify(state, null, 2));
const unitDir = join(process.env.HOME ?? '/nonexistent', '.config', 'systemd', 'user');
const fileText = (name) => (existsSync(join(unitDir, name)) ? readFileSync(join(unitDir, name), 'utf8') : null);
const unit = (name) => (state.units[name] ??= { loaded: null, active: 'inactive', result: 'success', enabled: false, pid: 0, version: null, restarts: 0 });

if (as === 'loginctl') {
  if (argv[0] === 'show-user') {
    process.stdout.write(`Linger=${state.linger ?? 'no'}\n`);
    process.exit(0);
  }
  if (argv[0] === 'enable-linger') {
    state.linger = 'yes';
    save();
    process.exit(0);
  }
  process.exit(1);
}

const args = argv.filter((a) => a !== '--user' && a !== '--now');
const verb = args[0];
const names = args.slice(1).filter((a) => !a.startsWith('-'));
let nextPid = state.nextPid ?? 4000;

function start(name) {
  const u = unit(name);
  if (u.loaded === null) {
    process.stderr.write(`Failed to start ${name}: Unit ${name} not found.\n`);
    process.exit(5);
  }
  if (u.result === 'start-limit-hit') {
    process.stderr.write(`Job for ${name} failed.\nStart request repeated too quickly.\n`);
    process.exit(1);
  }
  if (u.active === 'active') return;
  u.active = 'active';
  u.pid = nextPid++;
  u.version = /\(halton-meter ([^)]+)\)/.exec(u.loaded)?.[1] ?? null;
}
function stop(name) {
  const u = unit(name);
  u.active = 'inactive';
  u.pid = 0;
}

switch (verb) {
  case 'is-system-running':
    process.stdout.write(`${state.system ?? 'running'}\n`);
    process.exit(state.system === 'offline' ? 1 : 0);
    break;
  case 'show':
    for (const name of names) {
      const u = state.units[name];
      const text = fileText(name);
      const loaded = u?.loaded ?? null;
      process.stdout.write(
        [
          `Id=${name}`,
          `LoadState=${loaded !== null ? 'loaded' : 'not-found'}`,
          `ActiveState=${u?.active ?? 'inactive'}`,
          `SubState=${u?.active === 'active' ? 'running' : 'dead'}`,
          `Result=${u?.result ?? 'success'}`,
          `MainPID=${u?.pid ?? 0}`,
          `UnitFileState=${loaded === null && text === null ? '' : u?.enabled ? 'enabled' : 'disabled'}`,
          `NeedDaemonReload=${loaded !== null && text !== loaded ? 'yes' : 'no'}`,
          `NRestarts=${u?.restarts ?? 0}`,
          `FragmentPath=${text !== null ? join(unitDir, name) : ''}`,
        ].join('\n') + '\n\n',
      );
    }
    break;
  case 'daemon-reload':
    for (const name of new Set([...Object.keys(state.units), 'halton-meter.service', 'halton-meter-edge.service'])) {
      const text = fileText(name);
      if (text === null && !state.units[name]) continue;
      unit(name).loaded = text;
    }
    break;
  case 'enable':
  case 'disable':
    for (const name of names) {
      if (verb === 'enable' && fileText(name) === null) {
        process.stderr.write(`Failed to enable unit: Unit file ${name} does not exist.\n`);
        process.exit(1);
      }
      unit(name).enabled = verb === 'enable';
      if (argv.includes('--now') && verb === 'disable') stop(name);
    }
    break;
  case 'start':
    for (const name of names) start(name);
    break;
  case 'stop':
    for (const name of names) stop(name);
    break;
  case 'restart':
    for (const name of names) {
      stop(name);
      start(name);
    }
    break;
  case 'reset-failed':
    for (const name of names) {
      const u = unit(name);
      if (u.active === 'failed') u.active = 'inactive';
      u.result = 'success';
    }
    break;
  case 'is-active':
    for (const name of names) process.stdout.write(`${state.units[name]?.active ?? 'inactive'}\n`);
    process.exit(names.every((n) => state.units[n]?.active === 'active') ? 0 : 3);
    break;
  default:
    process.stderr.write(`fake systemctl: unknown verb ${verb}\n`);
    process.exit(1);
}
state.nextPid = nextPid;
save();
