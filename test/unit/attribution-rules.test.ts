// src/daemon/attribution/rules: each link of the SPEC §4 chain on its own, their precedence, and
// the facts the lookup worker gathers for them. .haltonrc and .git are real files in temporary
// directory trees; parent command lines and cgroups come from a synthetic proc tree, and once from
// real processes (a parent whose command line carries --folder-uri).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CHAIN, chooseAttribution, resolveAttribution, type ChainInput } from '../../src/daemon/attribution/index.js';
import { findClientProcess, type ClientProcess } from '../../src/daemon/attribution/client-process.js';
import type { ClientContext } from '../../src/daemon/attribution/context.js';
import { readDirectoryFactsSync, readProcessFactsSync, withoutOwnContainer } from '../../src/daemon/attribution/context.js';
import { DirCache } from '../../src/daemon/attribution/dir-cache.js';
import { slugFromName } from '../../src/daemon/attribution/name-slug.js';
import { containerFromCgroup } from '../../src/daemon/attribution/rules/container.js';
import { cwdFact, liveCwd } from '../../src/daemon/attribution/rules/cwd.js';
import { findGitRootSync, type GitRootFact } from '../../src/daemon/attribution/rules/git-root.js';
import { findHaltonrcSync, readHaltonrcSync, type HaltonrcFact } from '../../src/daemon/attribution/rules/haltonrc.js';
import { findIdeWorkspaceSync, folderUriFromArgv, workspaceNameFromUri } from '../../src/daemon/attribution/rules/ide-workspace.js';

const cleanups: Array<() => void | Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A fresh temporary directory (realpath: /tmp may be a symlink, and /proc reports real paths). */
function tempDir(prefix: string): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function makeDirs(root: string, ...parts: string[]): string {
  const d = join(root, ...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

function gitInit(dir: string): void {
  mkdirSync(join(dir, '.git', 'objects'), { recursive: true });
  writeFileSync(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
}

const HASH = '4f1c0d7e9a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d';
const HASH2 = 'aaaabbbbccccddddeeeeffff000011112222333344445555666677778888999a';

// ---------------------------------------------------------------------------------------------

describe('slugFromName: how directory and workspace names become slugs', () => {
  test('plain names are lower-cased', () => {
    assert.equal(slugFromName('Billing'), 'billing');
    assert.equal(slugFromName('web-app_2.0'), 'web-app_2.0');
  });

  test('whitespace runs become one dash; dashes collapse and are trimmed', () => {
    assert.equal(slugFromName('My Project'), 'my-project');
    assert.equal(slugFromName('  a \t b  '), 'a-b');
    assert.equal(slugFromName('foo - bar'), 'foo-bar');
    assert.equal(slugFromName('--x--'), 'x');
  });

  test('accents are folded, other characters outside the set are dropped', () => {
    assert.equal(slugFromName('Café Crème'), 'cafe-creme');
    assert.equal(slugFromName('Project (old)!'), 'project-old');
    assert.equal(slugFromName("bob's app"), 'bobs-app');
    assert.equal(slugFromName('a+b@c#d'), 'abcd');
    assert.equal(slugFromName('team/app'), 'teamapp'); // a name is one path segment: no slash survives
    assert.equal(slugFromName('svc:api'), 'svc:api');
  });

  test('a name with nothing left, or only dots, is no slug', () => {
    for (const bad of ['', '   ', '日本語', '🙂🙂', '.', '..', '---', null, undefined]) assert.equal(slugFromName(bad), null, JSON.stringify(bad));
  });

  test('never truncated: a name longer than 64 after normalising falls through', () => {
    assert.equal(slugFromName('a'.repeat(64)), 'a'.repeat(64));
    assert.equal(slugFromName('A'.repeat(65)), null);
    assert.equal(slugFromName(`${'a'.repeat(63)} !!`), 'a'.repeat(63));
  });
});

describe('DirCache', () => {
  test('answers from the cache within the TTL, recomputes after, and caches null answers', () => {
    let now = 0;
    const cache = new DirCache<string | null>(5_000, 10, () => now);
    let calls = 0;
    const compute = (d: string): string | null => {
      calls++;
      return d === '/none' ? null : `v${calls}`;
    };
    assert.equal(cache.get('/a', compute), 'v1');
    now = 4_999;
    assert.equal(cache.get('/a', compute), 'v1');
    now = 5_000;
    assert.equal(cache.get('/a', compute), 'v2');
    assert.equal(cache.get('/none', compute), null);
    assert.equal(cache.get('/none', compute), null);
    assert.equal(calls, 3);
  });

  test('holds at most its cap, dropping the oldest entry', () => {
    const cache = new DirCache<number>(60_000, 3, () => 0);
    for (const d of ['/1', '/2', '/3', '/4']) cache.get(d, () => 1);
    assert.equal(cache.size, 3);
    let recomputed = false;
    cache.get('/1', () => {
      recomputed = true;
      return 1;
    });
    assert.ok(recomputed, '/1 was evicted');
  });
});

// ---------------------------------------------------------------------------------------------
// Rule 3: .haltonrc

describe('.haltonrc (rule 3)', () => {
  const root = tempDir('hm-rc-');

  test('found in the working directory itself', () => {
    const d = makeDirs(root, 'a');
    writeFileSync(join(d, '.haltonrc'), 'project = "Alpha"\n');
    assert.deepEqual(findHaltonrcSync(d), { project: 'Alpha', file: join(d, '.haltonrc') });
  });

  test('found in an ancestor; the nearest file wins', () => {
    const top = makeDirs(root, 'b');
    const mid = makeDirs(top, 'mid');
    const deep = makeDirs(mid, 'x', 'y');
    writeFileSync(join(top, '.haltonrc'), 'project = "outer"\n');
    assert.equal(findHaltonrcSync(deep)?.project, 'outer');
    writeFileSync(join(mid, '.haltonrc'), '# team file\nproject = "inner"  # the service\n[other]\nx = 1\n');
    assert.deepEqual(findHaltonrcSync(deep), { project: 'inner', file: join(mid, '.haltonrc') });
  });

  test('files that name no project are passed over and the search goes on upward', () => {
    const top = makeDirs(root, 'c');
    writeFileSync(join(top, '.haltonrc'), 'project = "upper"\n');
    const cases: Array<[string, (dir: string) => void]> = [
      ['not TOML', (d) => writeFileSync(join(d, '.haltonrc'), 'project: upper\n')],
      ['no project key', (d) => writeFileSync(join(d, '.haltonrc'), 'tags = ["x"]\n')],
      ['project not a string', (d) => writeFileSync(join(d, '.haltonrc'), 'project = 42\n')],
      ['a directory', (d) => mkdirSync(join(d, '.haltonrc'))],
      ['a dangling symlink', (d) => symlinkSync(join(d, 'missing'), join(d, '.haltonrc'))],
      ['over 64 KiB', (d) => writeFileSync(join(d, '.haltonrc'), `project = "big"\n#${'x'.repeat(70_000)}\n`)],
      ['empty', (d) => writeFileSync(join(d, '.haltonrc'), '')],
    ];
    for (const [name, make] of cases) {
      const d = makeDirs(top, name.replaceAll(' ', '_'));
      make(d);
      assert.deepEqual(findHaltonrcSync(d), { project: 'upper', file: join(top, '.haltonrc') }, name);
    }
  });

  test('an unreadable file is passed over', (t) => {
    if (process.getuid?.() === 0) {
      t.skip('root reads any file');
      return;
    }
    const top = makeDirs(root, 'd');
    writeFileSync(join(top, '.haltonrc'), 'project = "upper"\n');
    const d = makeDirs(top, 'locked');
    writeFileSync(join(d, '.haltonrc'), 'project = "secret"\n');
    chmodSync(join(d, '.haltonrc'), 0o000);
    assert.equal(findHaltonrcSync(d)?.project, 'upper');
  });

  test('a project that is not a valid slug is still the nearest answer (the chain then falls through)', () => {
    const top = makeDirs(root, 'e');
    writeFileSync(join(top, '.haltonrc'), 'project = "fine"\n');
    const d = makeDirs(top, 'bad');
    writeFileSync(join(d, '.haltonrc'), 'project = "Not A Slug!"\n');
    assert.equal(findHaltonrcSync(d)?.project, 'Not A Slug!');
    assert.equal(readHaltonrcSync(join(d, '.haltonrc')), 'Not A Slug!');
  });

  test('none anywhere: null; a relative path is not searched', () => {
    const d = makeDirs(root, 'f', 'g');
    assert.equal(findHaltonrcSync(d), null);
    assert.equal(findHaltonrcSync('relative/dir'), null);
  });

  test('the per-directory cache answers for 5 s, then a new file is seen', () => {
    const d = makeDirs(root, 'h');
    let now = 0;
    const cache = new DirCache<HaltonrcFact | null>(5_000, 100, () => now);
    assert.equal(findHaltonrcSync(d, cache), null);
    writeFileSync(join(d, '.haltonrc'), 'project = "late"\n');
    now = 1_000;
    assert.equal(findHaltonrcSync(d, cache), null, 'cached');
    now = 5_001;
    assert.equal(findHaltonrcSync(d, cache)?.project, 'late');
  });
});

// ---------------------------------------------------------------------------------------------
// Rule 5: git root

describe('git root (rule 5)', () => {
  const root = tempDir('hm-git-');

  test('the directory holding .git, from anywhere below it', () => {
    const repo = makeDirs(root, 'My Repo');
    gitInit(repo);
    const deep = makeDirs(repo, 'src', 'lib');
    assert.deepEqual(findGitRootSync(deep), { name: 'My Repo', dir: repo });
    assert.deepEqual(findGitRootSync(repo), { name: 'My Repo', dir: repo });
  });

  test('a .git file (worktree, submodule) counts and names its own directory; the nearest wins', () => {
    const outer = makeDirs(root, 'outer');
    gitInit(outer);
    const sub = makeDirs(outer, 'vendor', 'libfoo');
    writeFileSync(join(sub, '.git'), 'gitdir: ../../.git/modules/libfoo\n');
    assert.equal(findGitRootSync(join(sub))?.name, 'libfoo');
    assert.equal(findGitRootSync(makeDirs(outer, 'vendor'))?.name, 'outer');
  });

  test('a .git that is not a repository is ignored', () => {
    const top = makeDirs(root, 'real');
    gitInit(top);
    const empty = makeDirs(top, 'emptygit');
    mkdirSync(join(empty, '.git'));
    assert.equal(findGitRootSync(empty)?.name, 'real', 'a .git directory without HEAD');
    const junk = makeDirs(top, 'junkgit');
    writeFileSync(join(junk, '.git'), 'not a gitdir line\n');
    assert.equal(findGitRootSync(junk)?.name, 'real', 'a .git file without gitdir:');
  });

  test('no repository: null; cached per directory', () => {
    const d = makeDirs(root, 'plain', 'dir');
    assert.equal(findGitRootSync(d), null);
    let now = 0;
    const cache = new DirCache<GitRootFact | null>(5_000, 100, () => now);
    assert.equal(findGitRootSync(d, cache), null);
    gitInit(d);
    assert.equal(findGitRootSync(d, cache), null, 'cached');
    now = 6_000;
    assert.equal(findGitRootSync(d, cache)?.name, 'dir');
  });
});

// ---------------------------------------------------------------------------------------------
// Rule 7: working directory

describe('working directory (rule 7)', () => {
  test('the name of the directory; / has none; " (deleted)" is taken off', () => {
    assert.deepEqual(cwdFact('/home/u/Side Project'), { name: 'Side Project', dir: '/home/u/Side Project' });
    assert.equal(cwdFact('/'), null);
    assert.equal(cwdFact(null), null);
    assert.equal(cwdFact('relative'), null);
    assert.equal(liveCwd('/srv/gone (deleted)'), '/srv/gone');
    assert.equal(cwdFact('/srv/gone (deleted)')?.name, 'gone');
  });
});

// ---------------------------------------------------------------------------------------------
// Rule 4: IDE workspace

describe('IDE workspace (rule 4): --folder-uri', () => {
  test('both argument forms; the first one wins; a flag without a value is skipped', () => {
    assert.equal(folderUriFromArgv(['/usr/share/code/code', '--folder-uri', 'file:///home/u/app']), 'file:///home/u/app');
    assert.equal(folderUriFromArgv(['cursor', '--folder-uri=file:///home/u/app']), 'file:///home/u/app');
    assert.equal(folderUriFromArgv(['code', '--folder-uri', 'file:///a/one', '--folder-uri', 'file:///a/two']), 'file:///a/one');
    assert.equal(folderUriFromArgv(['code', '--folder-uri', '--new-window']), null);
    assert.equal(folderUriFromArgv(['code', '--folder-uri=']), null);
    assert.equal(folderUriFromArgv(['code', '/home/u/app']), null);
    assert.equal(folderUriFromArgv([]), null);
  });

  test("Electron's space-joined command line (one argv entry) is split", () => {
    assert.equal(folderUriFromArgv(['/opt/Windsurf/windsurf --type=renderer --folder-uri file:///w/My%20App --enable-crash-reporter']), 'file:///w/My%20App');
  });

  test('the workspace name is the last path segment, percent-decoded', () => {
    const cases: Array<[string, string | null]> = [
      ['file:///home/u/proj', 'proj'],
      ['file:///home/u/My%20Project/', 'My Project'],
      ['file:///c%3A/Users/u/WinProj', 'WinProj'],
      ['vscode-remote://ssh-remote%2Bbuildbox/srv/api', 'api'],
      ['vscode-remote://ssh-remote+buildbox/srv/api-v2/', 'api-v2'],
      ['vscode-remote://wsl%2BUbuntu-22.04/home/u/wsl-proj', 'wsl-proj'],
      ['vscode-remote://dev-container%2B7b22686f737450617468223a222f6170702f73686f70227d/workspaces/shop', 'shop'],
      ['vscode-remote://codespaces%2Bfuzzy-space-abc/workspaces/repo?x=1#frag', 'repo'],
      ['vscode-vfs://github/owner/remote-repo', 'remote-repo'],
      ['file:///home/u/bad%ZZname', 'bad%ZZname'],
      ['file:///', null],
      ['file:///c%3A/', null],
      ['not a uri', null],
      ['vscode-remote://ssh-remote%2Bhost', null],
    ];
    for (const [uri, name] of cases) assert.equal(workspaceNameFromUri(uri), name, uri);
  });
});

// A synthetic proc tree: pids with cmdline (NUL-separated), stat (for the parent) and cgroup.
function procTree(): { root: string; add(pid: number, o: { ppid: number; argv?: string[]; cgroup?: string }): void } {
  const root = tempDir('hm-proc-');
  return {
    root,
    add(pid, o) {
      const dir = makeDirs(root, String(pid));
      writeFileSync(join(dir, 'stat'), `${pid} (p ${pid}) S ${o.ppid} ${pid} ${pid} 0 -1 0\n`);
      if (o.argv) writeFileSync(join(dir, 'cmdline'), o.argv.join('\0') + '\0');
      if (o.cgroup !== undefined) writeFileSync(join(dir, 'cgroup'), o.cgroup);
    },
  };
}

describe('IDE workspace: walking the parent chain', () => {
  const t = procTree();
  // 300 (python) <- 250 (bash) <- 200 (ptyHost helper, space-joined) <- 100 (code --folder-uri)
  t.add(100, { ppid: 1, argv: ['/usr/share/code/code', '--folder-uri', 'vscode-remote://ssh-remote%2Bbox/home/u/Remote%20Proj'] });
  t.add(200, { ppid: 100, argv: ['/usr/share/code/code --type=utility --utility-sub-type=node.mojom.NodeService'] });
  t.add(250, { ppid: 200, argv: ['/bin/bash', '--login'] });
  t.add(300, { ppid: 250, argv: ['python3', 'agent.py'] });
  // A chain deeper than the bound: 1010 <- 1009 <- ... <- 1000 (IDE at 1000, ten levels up).
  t.add(1000, { ppid: 1, argv: ['cursor', '--folder-uri=file:///far/away'] });
  for (let p = 1001; p <= 1010; p++) t.add(p, { ppid: p - 1, argv: ['sh'] });
  // A loop in the parent links must not spin.
  t.add(2001, { ppid: 2002, argv: ['a'] });
  t.add(2002, { ppid: 2001, argv: ['b'] });
  // The client itself carries the flag.
  t.add(3000, { ppid: 1, argv: ['code', '--folder-uri', 'file:///self/proj'] });
  // A parent that has exited (no files): the walk stops there.
  t.add(4000, { ppid: 4999, argv: ['node'] });

  test('the nearest ancestor with --folder-uri gives the workspace', () => {
    assert.deepEqual(findIdeWorkspaceSync(300, t.root), { name: 'Remote Proj', uri: 'vscode-remote://ssh-remote%2Bbox/home/u/Remote%20Proj', pid: 100 });
  });

  test('the client process itself counts', () => {
    assert.equal(findIdeWorkspaceSync(3000, t.root)?.name, 'proj');
  });

  test('bounded: an IDE more than 8 parents up is not found; nearer is', () => {
    assert.equal(findIdeWorkspaceSync(1010, t.root), null);
    assert.equal(findIdeWorkspaceSync(1008, t.root)?.name, 'away');
  });

  test('a parent loop or a vanished parent ends the walk', () => {
    assert.equal(findIdeWorkspaceSync(2001, t.root), null);
    assert.equal(findIdeWorkspaceSync(4000, t.root), null);
    assert.equal(findIdeWorkspaceSync(99_999, t.root), null);
  });
});

// ---------------------------------------------------------------------------------------------
// Rule 6: container

describe('container (rule 6): /proc/PID/cgroup', () => {
  const v1 = (path: string): string => `12:memory:${path}\n11:cpu,cpuacct:${path}\n1:name=systemd:${path}\n0::/\n`;
  const v2 = (path: string): string => `0::${path}\n`;

  test('docker, cgroup v1 and v2, both drivers: docker:<first 12 of the id>', () => {
    const want = `docker:${HASH.slice(0, 12)}`;
    assert.equal(containerFromCgroup(v1(`/docker/${HASH}`))?.slug, want);
    assert.equal(containerFromCgroup(v1(`/system.slice/docker-${HASH}.scope`))?.slug, want);
    assert.equal(containerFromCgroup(v2(`/system.slice/docker-${HASH}.scope`))?.slug, want);
    assert.equal(containerFromCgroup(v2(`/docker/${HASH}`))?.slug, want);
    assert.equal(containerFromCgroup(v2(`/system.slice/docker-${HASH}.scope/init`))?.slug, want);
    assert.equal(containerFromCgroup(v2(`/docker/${HASH}`))?.cgroupPath, `/docker/${HASH}`);
  });

  test('docker in docker: the innermost id', () => {
    assert.equal(containerFromCgroup(v1(`/docker/${HASH}/docker/${HASH2}`))?.slug, `docker:${HASH2.slice(0, 12)}`);
  });

  test('kubernetes, cgroupfs and systemd drivers, v1 and v2: k8s:<pod uid>, over the runtime under it', () => {
    const uid = '3f1c9b2e-7a4d-4e2b-9c1a-0d8e7f6a5b4c';
    const under = uid.replaceAll('-', '_');
    const cases = [
      v1(`/kubepods/besteffort/pod${uid}/${HASH}`),
      v1(`/kubepods/pod${uid}/${HASH}`),
      v1(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${under}.slice/docker-${HASH}.scope`),
      v2(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${under}.slice/cri-containerd-${HASH}.scope`),
      v2(`/kubepods.slice/kubepods-pod${under}.slice/crio-${HASH}.scope`),
      v2(`/kubepods/burstable/pod${uid.toUpperCase()}/${HASH}`),
    ];
    for (const c of cases) assert.equal(containerFromCgroup(c)?.slug, `k8s:${uid}`, c);
    // Static (mirror) pods: a 32-hex uid without dashes.
    assert.equal(containerFromCgroup(v1(`/kubepods/burstable/pod0123456789abcdef0123456789abcdef/${HASH}`))?.slug, 'k8s:0123456789abcdef0123456789abcdef');
  });

  test('podman: podman:<first 12>; its conmon scope is not the container', () => {
    assert.equal(containerFromCgroup(v2(`/machine.slice/libpod-${HASH}.scope/container`))?.slug, `podman:${HASH.slice(0, 12)}`);
    assert.equal(containerFromCgroup(v2(`/machine.slice/libpod-conmon-${HASH}.scope`)), null);
  });

  test('host processes and near misses: null', () => {
    for (const c of [
      v2('/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1.scope'),
      v2('/'),
      v1('/'),
      '12:memory:/process_api/daf6083e7c76856d72f63a91f23c5d73\n0::/\n',
      v2(`/docker/${HASH.slice(0, 63)}`), // too short
      v2(`/notdocker-${HASH}.scope`),
      v2(`/kubepods.slice/kubepods-besteffort.slice`), // no pod yet
      '',
      'garbage without colons',
    ]) {
      assert.equal(containerFromCgroup(c), null, c);
    }
  });

  test("a client in the daemon's own container is not attributed to it", () => {
    const facts = { ideWorkspace: null, container: { slug: 'docker:abc', cgroupPath: '/docker/abc' } };
    assert.equal(withoutOwnContainer(facts, 'docker:abc').container, null);
    assert.deepEqual(withoutOwnContainer(facts, 'docker:other'), facts);
    assert.deepEqual(withoutOwnContainer(facts, null), facts);
  });

  test('readProcessFactsSync reads cgroup and the parent chain from the proc tree', () => {
    const t = procTree();
    t.add(10, { ppid: 1, argv: ['code', '--folder-uri', 'file:///w/ws'] });
    t.add(11, { ppid: 10, argv: ['node'], cgroup: `0::/system.slice/docker-${HASH}.scope\n` });
    assert.deepEqual(readProcessFactsSync(11, t.root), {
      ideWorkspace: { name: 'ws', uri: 'file:///w/ws', pid: 10 },
      container: { slug: `docker:${HASH.slice(0, 12)}`, cgroupPath: `/system.slice/docker-${HASH}.scope` },
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The chain: precedence and falling through.

function clientProc(env: Record<string, string>, context?: Partial<ClientContext>): ClientProcess {
  return {
    pid: 4242,
    name: 'python3',
    env: new Map(Object.entries(env)),
    cwd: '/home/u/work dir',
    ppid: 1,
    context: context ? { haltonrc: null, ideWorkspace: null, gitRoot: null, container: null, cwd: null, ...context } : undefined,
  };
}

const FULL: ClientContext = {
  haltonrc: { project: 'From-RC', file: '/home/u/repo/.haltonrc' },
  ideWorkspace: { name: 'IDE Space', uri: 'file:///home/u/IDE%20Space', pid: 7 },
  gitRoot: { name: 'Repo Name', dir: '/home/u/Repo Name' },
  container: { slug: `docker:${HASH.slice(0, 12)}`, cgroupPath: `/docker/${HASH}` },
  cwd: { name: 'Work Dir', dir: '/home/u/repo/Work Dir' },
};

describe('the chain: first answer wins', () => {
  test('the rules are in SPEC §4 order', () => {
    assert.deepEqual(
      CHAIN.map((r) => r.name),
      ['proxy_user', 'env', 'haltonrc', 'ide_workspace', 'git_root', 'container', 'cwd'],
    );
  });

  test('each rule wins once every rule before it is silent', () => {
    const expect: Array<[string, string]> = [
      ['proxy_user', 'billing'],
      ['env', 'from-env'],
      ['haltonrc', 'from-rc'],
      ['ide_workspace', 'ide-space'],
      ['git_root', 'repo-name'],
      ['container', `docker:${HASH.slice(0, 12)}`],
      ['cwd', 'work-dir'],
      ['default', 'misc'],
    ];
    const ctx: Partial<ClientContext> = { ...FULL };
    let proxyUser: string | null = 'Billing';
    let env: Record<string, string> = { HALTON_PROJECT: 'From-Env' };
    const drop: Array<() => void> = [
      () => (proxyUser = null),
      () => (env = {}),
      () => (ctx.haltonrc = null),
      () => (ctx.ideWorkspace = null),
      () => (ctx.gitRoot = null),
      () => (ctx.container = null),
      () => (ctx.cwd = null),
    ];
    for (let i = 0; i < expect.length; i++) {
      const a = chooseAttribution({ proxyUser, process: clientProc(env, ctx) }, 'misc');
      assert.deepEqual([a.rule, a.slug], expect[i], `step ${i}`);
      assert.equal(a.clientPid, 4242);
      assert.equal(a.clientName, 'python3');
      drop[i]?.();
    }
  });

  test('a bad slug at any rule falls through to the next one', () => {
    const input = (env: Record<string, string>, ctx: Partial<ClientContext>, proxyUser: string | null = null): ChainInput => ({
      proxyUser,
      process: clientProc(env, { ...FULL, ...ctx }),
    });
    const pick = (i: ChainInput): [string, string] => {
      const a = chooseAttribution(i, 'misc');
      return [a.rule, a.slug];
    };
    assert.deepEqual(pick(input({}, {}, 'not a slug!')), ['haltonrc', 'from-rc']);
    assert.deepEqual(pick(input({ HALTON_PROJECT: 'has space' }, {})), ['haltonrc', 'from-rc']);
    assert.deepEqual(pick(input({}, { haltonrc: { project: 'Not A Slug!', file: '/x/.haltonrc' } })), ['ide_workspace', 'ide-space']);
    assert.deepEqual(pick(input({}, { haltonrc: { project: 'x'.repeat(65), file: '/x/.haltonrc' } })), ['ide_workspace', 'ide-space']);
    assert.deepEqual(pick(input({}, { haltonrc: null, ideWorkspace: { name: '日本語', uri: 'file:///%E6%97%A5', pid: 7 } })), ['git_root', 'repo-name']);
    assert.deepEqual(pick(input({}, { haltonrc: null, ideWorkspace: null, gitRoot: { name: '🙂', dir: '/🙂' } })), ['container', `docker:${HASH.slice(0, 12)}`]);
    assert.deepEqual(pick(input({}, { haltonrc: null, ideWorkspace: null, gitRoot: null, container: null, cwd: { name: 'z'.repeat(65), dir: '/z' } })), ['default', 'misc']);
  });

  test('explicit values are only lower-cased and trimmed; derived names are normalised', () => {
    const a = chooseAttribution({ proxyUser: null, process: clientProc({}, { haltonrc: { project: '  Team/API  ', file: '/.haltonrc' } }) }, 'misc');
    assert.deepEqual([a.rule, a.slug], ['haltonrc', 'team/api']);
    const b = chooseAttribution({ proxyUser: null, process: clientProc({}, { haltonrc: { project: 'Team API', file: '/.haltonrc' }, cwd: { name: 'Team API', dir: '/Team API' } }) }, 'misc');
    assert.deepEqual([b.rule, b.slug], ['cwd', 'team-api']);
  });

  test('a process without gathered facts answers from proxy user and env only; none found: unresolved', () => {
    assert.equal(chooseAttribution({ proxyUser: null, process: clientProc({}) }, 'misc').rule, 'default');
    assert.deepEqual(chooseAttribution({ proxyUser: null, process: null }, 'misc'), { slug: 'misc', rule: 'unresolved', clientPid: null, clientName: null });
    assert.deepEqual(chooseAttribution({ proxyUser: 'ops', process: null }, 'misc'), { slug: 'ops', rule: 'proxy_user', clientPid: null, clientName: null });
  });
});

// ---------------------------------------------------------------------------------------------
// The worker end to end: directory facts on real files, and real processes found by their socket.

describe('directory facts (worker side) on a real tree', () => {
  test('.haltonrc, git root and cwd from one working directory', () => {
    const root = tempDir('hm-dirfacts-');
    const repo = makeDirs(root, 'Shop Repo');
    gitInit(repo);
    writeFileSync(join(repo, '.haltonrc'), 'project = "shop"\n');
    const cwd = makeDirs(repo, 'services', 'Cart API');
    assert.deepEqual(readDirectoryFactsSync(cwd), {
      haltonrc: { project: 'shop', file: join(repo, '.haltonrc') },
      gitRoot: { name: 'Shop Repo', dir: repo },
      cwd: { name: 'Cart API', dir: cwd },
    });
    assert.deepEqual(readDirectoryFactsSync(null), { haltonrc: null, gitRoot: null, cwd: null });
  });
});

async function listen(): Promise<{ port: number; accepted: Promise<Socket> }> {
  const server = createServer();
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, accepted };
}

/** Starts `node` connecting to `port`, holding the connection until its stdin closes. */
function clientChild(port: number, opts: { cwd: string; env?: NodeJS.ProcessEnv; viaShell?: string[] }): { pid: () => number | undefined; done: () => Promise<void>; up: Promise<void> } {
  const js = `const s=require('net').connect(${port},'127.0.0.1',()=>process.stdout.write('up\\n'));process.stdin.on('end',()=>s.destroy()).resume();`;
  const env = { ...process.env, ...opts.env };
  delete env.HALTON_PROJECT;
  if (opts.env?.HALTON_PROJECT) env.HALTON_PROJECT = opts.env.HALTON_PROJECT;
  // Through sh, the extra arguments land on the shell's command line ("$0" and "$@"): a stand-in for
  // an IDE whose window process carries --folder-uri. `; exit` keeps sh from exec'ing node.
  const child = opts.viaShell
    ? spawn('sh', ['-c', `"${process.execPath}" -e "$JS"; exit $?`, 'code', ...opts.viaShell], { cwd: opts.cwd, env: { ...env, JS: js }, stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(process.execPath, ['-e', js], { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const done = async (): Promise<void> => {
    child.stdin?.end();
    await exited;
  };
  cleanups.push(done);
  const up = new Promise<void>((r) => child.stdout?.once('data', () => r()));
  return { pid: () => child.pid, done, up };
}

describe('findClientProcess gathers the facts, and the chain uses them (real processes)', () => {
  const root = tempDir('hm-real-');
  // Run from an IDE's terminal, the test itself has a --folder-uri ancestor, and rule 4 rightly
  // beats the git root and the working directory for its children.
  const underIde = findIdeWorkspaceSync(process.pid) !== null;

  const attribute = async (port: number): Promise<{ proc: ClientProcess | null; rule: string; slug: string }> => {
    const client = { address: '127.0.0.1', port };
    const proc = await findClientProcess(client, process.pid);
    const a = await resolveAttribution({ proxyUser: null, client }, { defaultProject: 'misc', ownPid: process.pid, lookupProcess: async () => proc });
    return { proc, rule: a.rule, slug: a.slug };
  };

  test('a client in a git repository with a .haltonrc: haltonrc; without it: git_root', { skip: underIde && 'run under an IDE' }, async () => {
    const repo = makeDirs(root, 'Git Repo');
    gitInit(repo);
    const cwd = makeDirs(repo, 'pkg');
    for (const [withRc, rule, slug] of [[true, 'haltonrc', 'billing'], [false, 'git_root', 'git-repo']] as const) {
      if (withRc) writeFileSync(join(repo, '.haltonrc'), 'project = "billing"\n');
      else rmSync(join(repo, '.haltonrc'));
      // A fresh directory per round: the worker's 5 s per-directory cache would answer otherwise.
      const round = makeDirs(cwd, String(withRc));
      const l = await listen();
      const c = clientChild(l.port, { cwd: round });
      const sock = await l.accepted;
      await c.up;
      const r = await attribute(sock.remotePort ?? 0);
      assert.equal(r.proc?.pid, c.pid());
      assert.equal(r.proc?.context?.gitRoot?.dir, repo);
      assert.equal(r.proc?.context?.cwd?.dir, round);
      assert.deepEqual([r.rule, r.slug], [rule, slug]);
      await c.done();
    }
  });

  test('a client under a parent with --folder-uri: ide_workspace, ahead of the git root', async () => {
    const repo = makeDirs(root, 'ide-repo');
    gitInit(repo);
    const l = await listen();
    const c = clientChild(l.port, { cwd: repo, viaShell: ['--folder-uri', 'file:///home/dev/My%20Workspace'] });
    const sock = await l.accepted;
    await c.up;
    const r = await attribute(sock.remotePort ?? 0);
    assert.equal(r.proc?.context?.ideWorkspace?.name, 'My Workspace');
    assert.equal(r.proc?.context?.gitRoot?.name, 'ide-repo');
    assert.deepEqual([r.rule, r.slug], ['ide_workspace', 'my-workspace']);
    await c.done();
  });

  test('a client in a plain directory: cwd; HALTON_PROJECT beats everything the directory says', { skip: underIde && 'run under an IDE' }, async () => {
    const plain = makeDirs(root, 'Plain Dir');
    for (const [env, rule, slug] of [[{}, 'cwd', 'plain-dir'], [{ HALTON_PROJECT: 'Env-Wins' }, 'env', 'env-wins']] as const) {
      const l = await listen();
      const c = clientChild(l.port, { cwd: plain, env });
      const sock = await l.accepted;
      await c.up;
      const r = await attribute(sock.remotePort ?? 0);
      assert.deepEqual([r.rule, r.slug], [rule, slug]);
      await c.done();
    }
  });
});

describe('findClientProcess on a synthetic proc tree: process facts, own container', () => {
  test("cgroup and parent command lines are read for the found process; the daemon's own container is dropped", async () => {
    const t = procTree();
    const work = tempDir('hm-synth-cwd-');
    const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
    const line = (local: string, inode: number): string => `   0: ${local} 0100007F:1F91 01 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0 20 4 30 10 -1\n`;
    mkdirSync(join(t.root, 'net'));
    // 127.0.0.1:50000 -> inode 777 (pid 61), 127.0.0.1:50001 -> inode 778 (pid 62)
    writeFileSync(join(t.root, 'net', 'tcp'), header + line('0100007F:C350', 777) + line('0100007F:C351', 778));
    const addClient = (pid: number, inode: number, cgroup: string): void => {
      t.add(pid, { ppid: 60, argv: ['python3'], cgroup });
      makeDirs(t.root, String(pid), 'fd');
      symlinkSync(`socket:[${inode}]`, join(t.root, String(pid), 'fd', '3'));
      symlinkSync(work, join(t.root, String(pid), 'cwd'));
      writeFileSync(join(t.root, String(pid), 'comm'), 'python3\n');
      writeFileSync(join(t.root, String(pid), 'environ'), 'PATH=/bin\0');
    };
    t.add(60, { ppid: 1, argv: ['windsurf', '--folder-uri=file:///ws/Surf%20Proj'] });
    addClient(61, 777, `0::/system.slice/docker-${HASH}.scope\n`);
    addClient(62, 778, `0::/system.slice/docker-${HASH2}.scope\n`);
    // The "daemon" (pid 5) runs in the container of pid 61.
    t.add(5, { ppid: 1, argv: ['halton-meter'], cgroup: `0::/system.slice/docker-${HASH}.scope\n` });

    const p61 = await findClientProcess({ address: '127.0.0.1', port: 50000 }, 5, t.root);
    assert.equal(p61?.pid, 61);
    assert.equal(p61?.context?.container, null, "the daemon's own container");
    assert.deepEqual(p61?.context?.ideWorkspace, { name: 'Surf Proj', uri: 'file:///ws/Surf%20Proj', pid: 60 });
    assert.equal(p61?.context?.cwd?.dir, work);

    const p62 = await findClientProcess({ address: '127.0.0.1', port: 50001 }, 5, t.root);
    assert.equal(p62?.context?.container?.slug, `docker:${HASH2.slice(0, 12)}`);
    assert.equal(chooseAttribution({ proxyUser: null, process: p62 }, 'misc').rule, 'ide_workspace');
    const noIde = p62 && p62.context ? { ...p62, context: { ...p62.context, ideWorkspace: null } } : null;
    assert.deepEqual(chooseAttribution({ proxyUser: null, process: noIde }, 'misc').slug, `docker:${HASH2.slice(0, 12)}`);
  });
});
