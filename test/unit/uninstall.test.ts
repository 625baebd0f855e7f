// `halton-meter uninstall`, in process with a temporary HOME: the exact `systemctl --user` calls
// (recording stand-in, test/helpers/fake-systemctl.mjs, first on PATH) with and without --graceful;
// what is removed and what is kept; the certifi marker taken out of a bundle; idempotence; --purge
// refused without --yes when nobody can be asked, cancelled when the answer is no, done when yes.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { mergeEffective, readEffectivePorts } from '../../src/config/effective-ports.js';
import type { CliContext } from '../../src/cli/context.js';
import { makeStyle } from '../../src/cli/output/style.js';
import { runUninstall, type UninstallOptions } from '../../src/cli/uninstall-flow.js';
import { isMeterError } from '../../src/core/errors.js';
import { markerLine, renderCertifiRecord } from '../../src/service/certifi.js';
import { repoRoot } from '../helpers/fake-provider.js';
import { freePort } from '../helpers/meter.js';

const D = 'halton-meter.service';
const E = 'halton-meter-edge.service';
const SHOW = ['show', D, E, '--property=Id,LoadState,ActiveState,SubState,Result,MainPID,UnitFileState,NeedDaemonReload,NRestarts,FragmentPath'];
const ORIGINAL = '# Issuer: CN=Some Root\n-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n';
const CA = '-----BEGIN CERTIFICATE-----\nMIIBmeter\n-----END CERTIFICATE-----\n';

interface World {
  home: string;
  data: string;
  bundle: string;
  calls: () => string[][];
  uninstall: (opts?: UninstallOptions, ask?: ((q: string) => Promise<boolean>) | null) => Promise<{ code: number; out: string }>;
}

/** An installed-looking HOME: units loaded and running in the stand-in, the files init writes, a patched bundle. */
async function world(mode: 'systemd' | 'process'): Promise<World> {
  const home = mkdtempSync(join(tmpdir(), 'hm-uninst-'));
  const bin = join(home, 'fakebin');
  const log = join(home, 'calls.jsonl');
  const statePath = join(home, 'state.json');
  const script = join(repoRoot(), 'test', 'helpers', 'fake-systemctl.mjs');
  mkdirSync(bin);
  for (const name of ['systemctl', 'loginctl']) {
    writeFileSync(join(bin, name), `#!/bin/sh\nFAKE_SYSTEMCTL_AS=${name} exec "${process.execPath}" "${script}" "$@"\n`);
    chmodSync(join(bin, name), 0o755);
  }
  const data = join(home, '.halton-meter');
  const unitDir = join(home, '.config', 'systemd', 'user');
  const envd = join(home, '.config', 'environment.d');
  for (const d of [data, unitDir, envd, join(home, '.mitmproxy')]) mkdirSync(d, { recursive: true });
  const unitText = (v: string): string => `# Written by \`halton-meter init\` (halton-meter ${v}).\n[Service]\nExecStart=/usr/bin/node /x/bin/halton-meter.js daemon\n`;
  const units: Record<string, unknown> = {};
  if (mode === 'systemd') {
    writeFileSync(join(unitDir, D), unitText('0.1.0'));
    writeFileSync(join(unitDir, E), unitText('0.1.0'));
    units[D] = { loaded: unitText('0.1.0'), active: 'active', result: 'success', enabled: true, pid: 4001, version: '0.1.0', restarts: 0 };
    units[E] = { loaded: unitText('0.1.0'), active: 'active', result: 'success', enabled: true, pid: 4002, version: '0.1.0', restarts: 0 };
  } else {
    mkdirSync(join(data, 'units'));
    mkdirSync(join(data, 'run'));
    writeFileSync(join(data, 'units', 'halton-meter.json'), '{}\n');
    writeFileSync(join(data, 'run', 'daemon.out'), 'x\n');
  }
  writeFileSync(statePath, JSON.stringify({ units, linger: 'yes' }));
  writeFileSync(join(data, 'install-mode'), `${mode}\n`);
  for (const f of ['env', 'ca-bundle.pem', 'db.sqlite', 'daemon.log']) writeFileSync(join(data, f), `${f}\n`);
  writeFileSync(join(data, 'config.toml'), '# my settings\n');
  writeFileSync(join(data, 'effective-ports.json'), '{"written_by":"init","pid":null,"written_at":null}\n');
  writeFileSync(join(envd, '60-halton-meter.conf'), 'HTTPS_PROXY=http://127.0.0.1:8081\n');
  for (const f of ['mitmproxy-ca.pem', 'mitmproxy-ca-cert.pem', 'mitmproxy-ca-cert.cer']) writeFileSync(join(home, '.mitmproxy', f), CA);
  const bundle = join(home, 'venv-cacert.pem');
  writeFileSync(bundle, `${ORIGINAL}${markerLine('AA:11')}\n${CA}`);
  writeFileSync(join(data, 'certifi.json'), renderCertifiRecord({ pythons: [], patched: [{ python: '/venv/bin/python', bundle, fingerprint: 'AA:11' }] }));

  const env: Record<string, string> = {
    HOME: home,
    PATH: `${bin}:/usr/bin:/bin`,
    USER: 'ann',
    NO_COLOR: '1',
    FAKE_SYSTEMCTL_LOG: log,
    FAKE_SYSTEMCTL_STATE: statePath,
    HALTON_METER_EDGE_PORT: String(await freePort()),
    HALTON_METER_INTERNAL_PORT: String(await freePort()),
    HALTON_METER_API_PORT: String(await freePort()),
  };
  return {
    home,
    data,
    bundle,
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => (JSON.parse(l) as string[]).slice(1))
            .map((c) => c.filter((a) => a !== '--user'))
        : [],
    uninstall: async (opts = {}, ask = null) => {
      const lines: string[] = [];
      const { config } = loadConfig({ env });
      const ctx: CliContext = {
        config,
        ports: () => mergeEffective(config, readEffectivePorts(config.paths.effectivePorts)),
        env,
        out: (t) => lines.push(t),
        err: (t) => lines.push(t),
        style: makeStyle(false, env),
      };
      const code = await runUninstall(ctx, opts, { ask, quickStopMs: 500, systemdQuickMs: 1000 });
      return { code, out: lines.join('\n') };
    },
  };
}

describe('uninstall under systemd (recording systemctl)', () => {
  test('stops both units at once, disables, removes them, reloads, resets failed state; keeps data, config, CA', async () => {
    const w = await world('systemd');
    const r = await w.uninstall();
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(w.calls(), [SHOW, ['stop', '--no-block', D, E], SHOW, ['disable', D, E], ['daemon-reload'], ['reset-failed', D, E]]);
    assert.match(r.out, /^✓ systemd: stopped halton-meter\.service and halton-meter-edge\.service; disabled them; removed halton-meter\.service, halton-meter-edge\.service from ~\/\.config\/systemd\/user; daemon-reload$/m);
    for (const gone of [join(w.home, '.config', 'systemd', 'user', D), join(w.home, '.config', 'systemd', 'user', E), join(w.home, '.config', 'environment.d', '60-halton-meter.conf')]) {
      assert.ok(!existsSync(gone), gone);
    }
    for (const f of ['env', 'ca-bundle.pem', 'effective-ports.json', 'install-mode', 'certifi.json']) assert.ok(!existsSync(join(w.data, f)), f);
    for (const f of ['config.toml', 'db.sqlite', 'daemon.log']) assert.ok(existsSync(join(w.data, f)), f);
    assert.ok(existsSync(join(w.home, '.mitmproxy', 'mitmproxy-ca.pem')));
    assert.equal(readFileSync(w.bundle, 'utf8'), ORIGINAL, 'the certifi bundle is back to what it was');
    assert.match(r.out, /^✓ kept: ~\/\.halton-meter\/db\.sqlite, ~\/\.halton-meter\/config\.toml, the CA \(~\/\.mitmproxy\), the logs; uninstall --purge removes them$/m);
    assert.match(r.out, /^uninstall: done /m);
  });

  test('--graceful: the daemon stopped first (its drain), then the edge', async () => {
    const w = await world('systemd');
    const r = await w.uninstall({ graceful: true });
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(w.calls(), [SHOW, ['stop', D], ['stop', E], ['disable', D, E], ['daemon-reload'], ['reset-failed', D, E]]);
    assert.match(r.out, /stopped halton-meter\.service and halton-meter-edge\.service \(graceful\)/);
  });

  test('a second uninstall finds nothing to do and asks systemctl only what is there', async () => {
    const w = await world('systemd');
    assert.equal((await w.uninstall()).code, 0);
    const before = w.calls().length;
    const again = await w.uninstall();
    assert.equal(again.code, 0, again.out);
    assert.deepEqual(w.calls().slice(before), [], 'no unit files and no install-mode: systemctl is not asked');
    assert.match(again.out, /^uninstall: nothing to do \(halton-meter is not installed here\)$/m);
    assert.doesNotMatch(again.out, /^✓ (stop|systemd|environment\.d|certifi|files):/m);
  });
});

describe('uninstall under the process supervisor (nothing running)', () => {
  test('removes units/ and run/ and the rest; systemctl never asked', async () => {
    const w = await world('process');
    const r = await w.uninstall();
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(w.calls(), []);
    assert.ok(!existsSync(join(w.data, 'units')) && !existsSync(join(w.data, 'run')));
    assert.match(r.out, /^✓ files: removed units\/, run\/, certifi\.json, env, ca-bundle\.pem, effective-ports\.json, install-mode from ~\/\.halton-meter$/m);
    assert.match(r.out, /^- stop: no edge, daemon or supervisor of ours is running$/m);
  });
});

describe('--purge', () => {
  test('without --yes and nobody to ask: refused with one clear error before anything is touched', async () => {
    const w = await world('process');
    await assert.rejects(w.uninstall({ purge: true }), (e: unknown) => isMeterError(e) && e.code === 'bad_argument' && /needs --yes/.test(e.message) && !e.message.includes('\n'));
    assert.ok(existsSync(join(w.data, 'install-mode')) && existsSync(join(w.data, 'db.sqlite')));
  });

  test('asked and declined: nothing changes; asked and accepted: data, config, logs and CA are gone', async () => {
    const w = await world('process');
    const questions: string[] = [];
    const no = await w.uninstall({ purge: true }, async (q) => (questions.push(q), false));
    assert.equal(no.code, 1);
    assert.match(no.out, /also deletes, for good:[\s\S]*db\.sqlite[\s\S]*config\.toml[\s\S]*mitmproxy-ca\.pem/);
    assert.match(no.out, /^uninstall: cancelled; nothing was changed$/m);
    assert.ok(existsSync(join(w.data, 'install-mode')));
    const yes = await w.uninstall({ purge: true }, async () => true);
    assert.equal(yes.code, 0, yes.out);
    assert.ok(!existsSync(w.data), 'the data directory is gone');
    assert.ok(!existsSync(join(w.home, '.mitmproxy')), 'the CA (and its now empty directory) is gone');
    assert.equal(readFileSync(w.bundle, 'utf8'), ORIGINAL);
  });

  test('--purge --yes keeps what is not the meter\'s in its directories', async () => {
    const w = await world('process');
    writeFileSync(join(w.data, 'notes.txt'), 'mine\n');
    writeFileSync(join(w.home, '.mitmproxy', 'mitmproxy-dhparam.pem'), 'theirs\n');
    const r = await w.uninstall({ purge: true, yes: true });
    assert.equal(r.code, 0, r.out);
    assert.ok(existsSync(join(w.data, 'notes.txt')) && !existsSync(join(w.data, 'db.sqlite')) && !existsSync(join(w.data, 'config.toml')));
    assert.ok(existsSync(join(w.home, '.mitmproxy', 'mitmproxy-dhparam.pem')) && !existsSync(join(w.home, '.mitmproxy', 'mitmproxy-ca.pem')));
    assert.match(r.out, /left in ~\/\.halton-meter \(not ours to delete\): notes\.txt/);
  });
});
