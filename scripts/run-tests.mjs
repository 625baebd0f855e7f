#!/usr/bin/env node
// Runs the compiled test suite with Node's own test runner. Test files are compiled by `npm run build`
// into dist/test. Pass sub-folders (unit, contract, integration, e2e, fuzz) to run only those.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const groups = process.argv.slice(2);
const dirs = (groups.length ? groups : ['unit', 'contract', 'integration', 'e2e', 'fuzz'])
  .map((g) => join(root, 'dist', 'test', g))
  .filter((d) => existsSync(d));
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...dirs], { stdio: 'inherit' });
process.exit(res.status ?? 1);
