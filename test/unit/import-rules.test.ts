// The layering of STYLE.md ("May import", principles 1 and 11), checked on the sources: every .ts
// file under src/ is parsed with the TypeScript compiler (so comments, strings and multi-line
// imports are read the way tsc reads them) and each import is held against the folder table below.
// The edge gets two extra checks: no npm package anywhere in src/edge, and nothing reachable from
// src/edge/process.ts loads one either (the edge must survive `npm install -g` replacing
// node_modules under it). The checker itself is exercised on synthetic sources first, so a checker
// that silently flags nothing cannot pass.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, posix, relative, sep } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';

// ---------------------------------------------------------------------------------------------
// The rules.

const LAYERS = ['core', 'config', 'edge', 'daemon', 'ca', 'adapters', 'pricing', 'store', 'service', 'cli'] as const;
type Layer = (typeof LAYERS)[number];

/** Other src folders each folder may import from (its own folder is always allowed). */
const MAY_IMPORT: Readonly<Record<Layer, readonly Layer[]>> = {
  core: [],
  config: ['core'],
  edge: ['core', 'config'],
  adapters: ['core'],
  pricing: ['core'],
  store: ['core'],
  ca: ['core'],
  service: ['core', 'config', 'ca'],
  daemon: ['core', 'config', 'ca', 'adapters', 'pricing', 'store'],
  // The CLI talks to the processes over HTTP or reads SQLite: never their internals.
  cli: ['core', 'config', 'ca', 'adapters', 'pricing', 'store', 'service'],
};

const SQLITE_DRIVER = 'better-sqlite3';
const SQLITE_FILE = 'src/store/db.ts';
const EDGE_ROOT = 'src/edge/process.ts';

// ---------------------------------------------------------------------------------------------
// The checker.

interface ImportRef {
  spec: string;
  line: number;
  /** Erased by tsc: `import type`, `export type`, `import { type A }` only, `import('x').T`. */
  typeOnly: boolean;
  /** import(...) or require(...): loaded later than start-up. */
  dynamic: boolean;
}

interface Violation {
  file: string;
  spec: string;
  rule: string;
}

function render(v: Violation): string {
  return `${v.file}: import '${v.spec}' breaks rule: ${v.rule}`;
}

function importsOf(file: string, text: string): ImportRef[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: ImportRef[] = [];
  const lineOf = (n: ts.Node): number => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      let typeOnly = clause?.isTypeOnly ?? false;
      if (clause && !typeOnly && !clause.name && clause.namedBindings && ts.isNamedImports(clause.namedBindings)) {
        const els = clause.namedBindings.elements;
        typeOnly = els.length > 0 && els.every((e) => e.isTypeOnly);
      }
      out.push({ spec: node.moduleSpecifier.text, line: lineOf(node), typeOnly, dynamic: false });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      let typeOnly = node.isTypeOnly;
      if (!typeOnly && node.exportClause && ts.isNamedExports(node.exportClause)) {
        const els = node.exportClause.elements;
        typeOnly = els.length > 0 && els.every((e) => e.isTypeOnly);
      }
      out.push({ spec: node.moduleSpecifier.text, line: lineOf(node), typeOnly, dynamic: false });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const expr = node.moduleReference.expression;
      if (ts.isStringLiteral(expr)) out.push({ spec: expr.text, line: lineOf(node), typeOnly: node.isTypeOnly, dynamic: false });
    } else if (ts.isCallExpression(node) && node.arguments.length > 0 && ts.isStringLiteralLike(node.arguments[0])) {
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (isImport || isRequire) out.push({ spec: node.arguments[0].text, line: lineOf(node), typeOnly: false, dynamic: true });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      out.push({ spec: node.argument.literal.text, line: lineOf(node), typeOnly: true, dynamic: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

type Target =
  | { kind: 'src'; path: string; layer: string }
  | { kind: 'outside'; path: string }
  | { kind: 'node'; name: string }
  | { kind: 'bare-builtin'; name: string }
  | { kind: 'package'; name: string };

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** `file` and the result are repo-relative posix paths ("src/edge/server.ts"). */
function classify(file: string, spec: string): Target {
  if (spec.startsWith('./') || spec.startsWith('../')) {
    let path = posix.normalize(posix.join(posix.dirname(file), spec));
    // NodeNext: sources import the compiled name.
    if (path.endsWith('.js')) path = path.slice(0, -3) + '.ts';
    if (!path.startsWith('src/')) return { kind: 'outside', path };
    return { kind: 'src', path, layer: path.split('/')[1] };
  }
  if (spec.startsWith('node:')) return { kind: 'node', name: spec };
  if (isBuiltin(spec)) return { kind: 'bare-builtin', name: spec };
  return { kind: 'package', name: packageName(spec) };
}

function layerOf(file: string): Layer | null {
  const parts = file.split('/');
  if (parts.length < 3) return null;
  return (LAYERS as readonly string[]).includes(parts[1]) ? (parts[1] as Layer) : null;
}

/** Per-file rules: the folder table, npm-free edge, one SQLite importer. */
function checkFile(file: string, text: string): Violation[] {
  const out: Violation[] = [];
  const layer = layerOf(file);
  if (layer === null) {
    out.push({ file, spec: '(none)', rule: `file is outside the layer folders (${LAYERS.join(', ')}): add its folder to the table` });
    return out;
  }
  for (const imp of importsOf(file, text)) {
    const where = `${file}:${imp.line}`;
    const t = classify(file, imp.spec);
    switch (t.kind) {
      case 'outside':
        out.push({ file: where, spec: imp.spec, rule: `src/ imports nothing outside src/ (resolves to ${t.path})` });
        break;
      case 'src': {
        if (t.layer === layer) break;
        if (!(MAY_IMPORT[layer] as readonly string[]).includes(t.layer)) {
          const allowed = MAY_IMPORT[layer].length ? MAY_IMPORT[layer].join(', ') : 'nothing';
          out.push({ file: where, spec: imp.spec, rule: `${layer} may import ${allowed} (not ${t.layer})` });
        }
        break;
      }
      case 'node':
        break;
      case 'bare-builtin':
        if (layer === 'edge') out.push({ file: where, spec: imp.spec, rule: `edge imports built-ins with the node: prefix only (node:${imp.spec})` });
        break;
      case 'package':
        if (layer === 'edge') out.push({ file: where, spec: imp.spec, rule: 'edge imports no npm package, only node: built-ins' });
        if (t.name === SQLITE_DRIVER && file !== SQLITE_FILE) {
          out.push({ file: where, spec: imp.spec, rule: `only ${SQLITE_FILE} imports ${SQLITE_DRIVER}` });
        }
        break;
    }
  }
  return out;
}

/**
 * Everything the edge process loads at run time, from its entry: only node: built-ins and relative
 * files, and all of it statically (no import() that could fetch a file replaced by an upgrade).
 */
function checkEdgeClosure(files: ReadonlyMap<string, string>, entry = EDGE_ROOT): { reached: string[]; violations: Violation[] } {
  const violations: Violation[] = [];
  const via = new Map<string, string | null>([[entry, null]]);
  const queue = [entry];
  const chain = (f: string): string => {
    const path: string[] = [];
    for (let cur: string | null = f; cur !== null; cur = via.get(cur) ?? null) path.unshift(cur);
    return path.join(' -> ');
  };
  while (queue.length) {
    const file = queue.shift() as string;
    const text = files.get(file);
    if (text === undefined) {
      violations.push({ file: chain(file), spec: file, rule: 'edge closure: imported file does not exist' });
      continue;
    }
    for (const imp of importsOf(file, text)) {
      if (imp.typeOnly) continue; // erased by tsc: never loaded
      const t = classify(file, imp.spec);
      const from = `${chain(file)}:${imp.line}`;
      if (imp.dynamic) violations.push({ file: from, spec: imp.spec, rule: 'the edge loads all of its code at start (no import()/require)' });
      if (t.kind === 'package' || t.kind === 'bare-builtin') {
        violations.push({ file: from, spec: imp.spec, rule: 'everything the edge process loads imports only node: built-ins or relative files' });
      } else if (t.kind === 'outside') {
        violations.push({ file: from, spec: imp.spec, rule: 'the edge process loads nothing outside src/' });
      } else if (t.kind === 'src' && !via.has(t.path)) {
        via.set(t.path, file);
        queue.push(t.path);
      }
    }
  }
  return { reached: [...via.keys()].sort(), violations };
}

// ---------------------------------------------------------------------------------------------
// The sources.

function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json'))) dir = join(dir, '..');
  return dir;
}

function loadSources(): Map<string, string> {
  const root = repoRoot();
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      if (e.isDirectory()) walk(abs);
      else if (e.name.endsWith('.ts')) files.set(relative(root, abs).split(sep).join('/'), readFileSync(abs, 'utf8'));
      else if (e.name.endsWith('.json')) files.set(relative(root, abs).split(sep).join('/'), '');
    }
  };
  walk(join(root, 'src'));
  return files;
}

// ---------------------------------------------------------------------------------------------

describe('the import checker flags what it should (synthetic sources)', () => {
  const flagged = (file: string, text: string): Violation[] => checkFile(file, text);

  test('core importing another folder is a violation naming file, import and rule', () => {
    const v = flagged('src/core/x.ts', "import { meterExchange } from '../daemon/meter.js';\n");
    assert.equal(v.length, 1);
    const msg = render(v[0]);
    assert.match(msg, /src\/core\/x\.ts:1/);
    assert.match(msg, /'\.\.\/daemon\/meter\.js'/);
    assert.match(msg, /core may import nothing \(not daemon\)/);
  });

  test('type-only imports still count for layering', () => {
    assert.equal(flagged('src/adapters/x.ts', "import type { Config } from '../config/types.js';").length, 1);
    assert.equal(flagged('src/pricing/x.ts', "export type { RowWriter } from '../store/writer.js';").length, 1);
  });

  test('multi-line, export-from, side-effect and dynamic imports are all seen', () => {
    const text = [
      'import {',
      '  a,',
      '  b,',
      "} from '../daemon/a.js';",
      "export * from '../cli/b.js';",
      "import '../edge/c.js';",
      "const m = await import('../service/d.js');",
    ].join('\n');
    const v = flagged('src/config/x.ts', text);
    assert.deepEqual(
      v.map((x) => x.spec),
      ['../daemon/a.js', '../cli/b.js', '../edge/c.js', '../service/d.js'],
    );
    assert.match(v[0].file, /:1$/);
  });

  test('comments and strings that look like imports are not imports', () => {
    const text = [
      "// import { x } from '../daemon/meter.js';",
      "/* export * from '../cli/main.js'; */",
      "const s = \"import y from '../edge/server.js'\";",
      "import { ok } from '../core/slug.js';",
    ].join('\n');
    assert.deepEqual(flagged('src/store/x.ts', text), []);
  });

  test('edge: no npm package, node: built-ins only', () => {
    assert.deepEqual(flagged('src/edge/x.ts', "import { connect } from 'node:net';\nimport { a } from '../config/load.js';"), []);
    const pkg = flagged('src/edge/x.ts', "import { Command } from 'commander';");
    assert.equal(pkg.length, 1);
    assert.match(render(pkg[0]), /edge imports no npm package/);
    assert.equal(flagged('src/edge/x.ts', "import { readFileSync } from 'fs';").length, 1);
    assert.equal(flagged('src/edge/x.ts', "import { x } from '../daemon/main.js';").length, 1);
    assert.equal(flagged('src/edge/x.ts', "import { x } from '../adapters/index.js';").length, 1);
  });

  test('only src/store/db.ts imports better-sqlite3', () => {
    assert.deepEqual(flagged('src/store/db.ts', "import Database from 'better-sqlite3';"), []);
    const v = flagged('src/store/requests.ts', "import Database from 'better-sqlite3';");
    assert.equal(v.length, 1);
    assert.match(render(v[0]), /only src\/store\/db\.ts imports better-sqlite3/);
    assert.equal(flagged('src/cli/commands/report.ts', "import Database from 'better-sqlite3';").length, 1);
  });

  test('daemon may not import edge or cli; cli may not import daemon or edge', () => {
    assert.equal(flagged('src/daemon/mitm/x.ts', "import { a } from '../../edge/health.js';").length, 1);
    assert.equal(flagged('src/daemon/x.ts', "import { a } from '../cli/main.js';").length, 1);
    assert.equal(flagged('src/daemon/x.ts', "import { a } from '../service/env.js';").length, 1);
    assert.deepEqual(flagged('src/daemon/x.ts', "import { a } from '../store/index.js';\nimport { b } from '../ca/index.js';"), []);
    assert.equal(flagged('src/cli/commands/x.ts', "import { a } from '../../daemon/meter.js';").length, 1);
    assert.equal(flagged('src/cli/x.ts', "import { a } from '../edge/server.js';").length, 1);
    assert.deepEqual(flagged('src/cli/x.ts', "import { a } from '../store/index.js';\nimport { b } from '../service/env.js';"), []);
  });

  test('ca -> core only; service -> core, config, ca', () => {
    assert.equal(flagged('src/ca/x.ts', "import { a } from '../config/paths.js';").length, 1);
    assert.deepEqual(flagged('src/service/x.ts', "import { a } from '../ca/index.js';\nimport { b } from '../config/types.js';"), []);
    assert.equal(flagged('src/service/x.ts', "import { a } from '../store/index.js';").length, 1);
  });

  test('files outside the layer folders and imports leaving src/ are flagged', () => {
    assert.equal(flagged('src/utils.ts', '').length, 1);
    assert.equal(flagged('src/core/x.ts', "import { a } from '../../test/helpers/meter.js';").length, 1);
  });

  test('the edge closure follows relative runtime imports and flags an npm package reached indirectly', () => {
    const files = new Map<string, string>([
      ['src/edge/process.ts', "import { a } from '../config/load.js';\nimport type { T } from '../daemon/types.js';"],
      ['src/config/load.ts', "import { parse } from 'smol-toml';\nimport { b } from '../core/b.js';"],
      ['src/core/b.ts', "export { c } from './c.js';\nimport { readFileSync } from 'node:fs';"],
      ['src/core/c.ts', "const later = () => import('./d.js');"],
      ['src/core/d.ts', ''],
    ]);
    const { reached, violations } = checkEdgeClosure(files);
    // The type-only import is erased by tsc, so src/daemon/types.ts is not loaded.
    assert.deepEqual(reached, ['src/config/load.ts', 'src/core/b.ts', 'src/core/c.ts', 'src/core/d.ts', 'src/edge/process.ts']);
    assert.equal(violations.length, 2);
    assert.match(render(violations[0]), /src\/edge\/process\.ts -> src\/config\/load\.ts:1: import 'smol-toml'/);
    assert.match(render(violations[1]), /import '\.\/d\.js' breaks rule: the edge loads all of its code at start/);
  });
});

describe('src/ follows the import rules', () => {
  const files = loadSources();

  test('the scan sees the tree (guards against a vacuous pass)', () => {
    const sources = [...files.keys()].filter((f) => f.endsWith('.ts'));
    assert.ok(sources.length >= 40, `only ${sources.length} .ts files found under src/`);
    const total = sources.reduce((n, f) => n + importsOf(f, files.get(f) ?? '').length, 0);
    assert.ok(total >= 100, `only ${total} imports found`);
    for (const must of ['src/edge/process.ts', 'src/store/db.ts', 'src/daemon/meter.ts', 'src/cli/main.ts']) assert.ok(files.has(must), must);
  });

  test('every file imports only what its folder may import', () => {
    const violations = [...files.entries()].filter(([f]) => f.endsWith('.ts')).flatMap(([f, text]) => checkFile(f, text));
    assert.deepEqual(violations.map(render), []);
  });

  test('everything reachable from src/edge/process.ts loads only node: built-ins and relative files', () => {
    const { reached, violations } = checkEdgeClosure(files);
    assert.deepEqual(violations.map(render), []);
    // The walk really went through the edge and into core/config.
    for (const f of ['src/edge/server.ts', 'src/edge/health.ts', 'src/edge/chain.ts', 'src/core/dial.ts', 'src/config/load.ts']) {
      assert.ok(reached.includes(f), `${f} not reached from ${EDGE_ROOT}: ${reached.join(', ')}`);
    }
    for (const f of reached) assert.match(f, /^src\/(edge|core|config)\//, `${f} reached from the edge`);
  });
});
