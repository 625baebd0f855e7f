// The certifi patch: the pure text functions, then real Python interpreters in temporary venvs
// (`python3 -m venv --without-pip`, no network) whose site-packages hold a stand-in `certifi`
// package (an __init__.py with where() and a cacert.pem), found the way init finds them: python3 on
// PATH, pipx venvs, uv tool venvs, and one named by the user.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { makeCertifiVenv } from '../helpers/certifi-venv.js';
import {
  applyCertifiPatch,
  certifiWhere,
  CERTIFI_MARKER,
  findInterpreters,
  inspectBundleText,
  markerLine,
  patchBundleText,
  unpatchBundleText,
} from '../../src/service/certifi.js';

const ORIGINAL = '# Issuer: CN=Some Root\n-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n';
const CA1 = '-----BEGIN CERTIFICATE-----\nMIIBone\n-----END CERTIFICATE-----\n';
const CA2 = '-----BEGIN CERTIFICATE-----\nMIIBtwo\n-----END CERTIFICATE-----\n';
const FP1 = 'AA:11';
const FP2 = 'BB:22';

const markers = (text: string): number => text.split('\n').filter((l) => l.startsWith(CERTIFI_MARKER)).length;

describe('bundle text', () => {
  test('appends one block after a marker line; a second pass changes nothing', () => {
    const once = patchBundleText(ORIGINAL, FP1, CA1);
    assert.equal(once.action, 'appended');
    assert.equal(once.text, `${ORIGINAL}${markerLine(FP1)}\n${CA1}`);
    assert.equal(markerLine(FP1), '# halton-meter local CA AA:11');
    const twice = patchBundleText(once.text, FP1, CA1);
    assert.equal(twice.action, 'unchanged');
    assert.equal(twice.text, once.text);
  });

  test('a block for an older CA is replaced; duplicates collapse to one', () => {
    const old = patchBundleText(ORIGINAL, FP1, CA1).text;
    const renewed = patchBundleText(old, FP2, CA2);
    assert.equal(renewed.action, 'replaced-stale');
    assert.deepEqual(inspectBundleText(renewed.text, FP2), { current: 1, stale: [] });
    assert.ok(!renewed.text.includes('MIIBone'));
    const doubled = `${old}${markerLine(FP1)}\n${CA1}`;
    const fixed = patchBundleText(doubled, FP1, CA1);
    assert.equal(fixed.action, 'deduplicated');
    assert.equal(markers(fixed.text), 1);
  });

  test('unpatch restores the original bytes, also without a trailing newline', () => {
    assert.equal(unpatchBundleText(patchBundleText(ORIGINAL, FP1, CA1).text).text, ORIGINAL);
    const bare = ORIGINAL.trimEnd();
    const patched = patchBundleText(bare, FP1, CA1).text;
    assert.equal(markers(patched), 1);
    assert.equal(unpatchBundleText(patched).text, `${bare}\n`);
  });
});

const python = spawnSync('python3', ['--version']).status === 0;

function makeVenv(dir: string, withCertifi = true): { python: string; bundle: string } {
  return makeCertifiVenv(dir, ORIGINAL, withCertifi);
}

describe('real interpreters in temporary venvs', { skip: !python && 'python3 not installed' }, () => {
  const home = mkdtempSync(join(tmpdir(), 'hm-certifi-'));
  const onPath = makeVenv(join(home, 'work', 'venv'));
  const pipx = makeVenv(join(home, '.local', 'pipx', 'venvs', 'some-tool'));
  const pipxNew = makeVenv(join(home, '.local', 'share', 'pipx', 'venvs', 'other-tool'));
  const uv = makeVenv(join(home, '.local', 'share', 'uv', 'tools', 'uv-tool'));
  const bare = makeVenv(join(home, 'bare'), false);
  const env = { ...process.env, HOME: home } as NodeJS.ProcessEnv;

  test('finds python3 on PATH (the first), pipx venvs (both layouts), uv tool venvs and the user\'s', () => {
    const found = findInterpreters({ home, pathVar: `/nonexistent:${join(home, 'work', 'venv', 'bin')}:/usr/bin`, extra: [bare.python] });
    assert.deepEqual(
      found.map((i) => [i.path, i.source]),
      [
        [join(home, 'work', 'venv', 'bin', 'python3'), 'PATH'],
        [pipx.python, 'pipx'],
        [pipxNew.python, 'pipx'],
        [uv.python, 'uv'],
        [bare.python, 'user'],
      ],
    );
  });

  test('certifi.where() is asked of each interpreter; one without certifi says so', async () => {
    assert.deepEqual(await certifiWhere(join(home, 'work', 'venv', 'bin', 'python3'), env), { ok: true, bundle: onPath.bundle });
    assert.deepEqual(await certifiWhere(uv.python, env), { ok: true, bundle: uv.bundle });
    assert.deepEqual(await certifiWhere(bare.python, env), { ok: false, reason: 'certifi is not installed' });
    assert.equal((await certifiWhere(join(home, 'missing', 'python'), env)).ok, false);
  });

  test('patch, detect, re-apply after the venv is rebuilt (file replaced), never duplicate, follow a new CA', async () => {
    const { bundle } = pipx;
    assert.deepEqual(applyCertifiPatch(bundle, FP1, CA1), { kind: 'patched', action: 'appended' });
    assert.deepEqual(applyCertifiPatch(bundle, FP1, CA1), { kind: 'already' });
    assert.equal(markers(readFileSync(bundle, 'utf8')), 1);
    // The venv rebuilt (pipx reinstall, certifi upgraded): a fresh bundle without our block.
    makeVenv(join(home, '.local', 'pipx', 'venvs', 'some-tool'));
    assert.equal(readFileSync(bundle, 'utf8'), ORIGINAL);
    assert.deepEqual(applyCertifiPatch(bundle, FP1, CA1), { kind: 'patched', action: 'appended' });
    assert.equal(markers(readFileSync(bundle, 'utf8')), 1);
    // A new CA: the old block goes, the new one comes, still one.
    assert.deepEqual(applyCertifiPatch(bundle, FP2, CA2), { kind: 'patched', action: 'replaced-stale' });
    const text = readFileSync(bundle, 'utf8');
    assert.equal(markers(text), 1);
    assert.ok(text.includes(markerLine(FP2)) && !text.includes('MIIBone'));
    // The bundle still works for Python: it parses as PEM with our block at the end.
    const r = spawnSync(pipx.python, ['-c', 'import certifi,sys; t=open(certifi.where()).read(); sys.stdout.write(str(t.count("BEGIN CERTIFICATE")))'], { encoding: 'utf8' });
    assert.equal(r.stdout, '2');
  });

  test('a bundle outside a certifi package (a distribution pointing at the system store) is left alone', () => {
    const sys = join(home, 'ca-certificates.crt');
    writeFileSync(sys, ORIGINAL);
    const out = applyCertifiPatch(sys, FP1, CA1);
    assert.equal(out.kind, 'skipped');
    assert.equal(readFileSync(sys, 'utf8'), ORIGINAL);
  });
});
