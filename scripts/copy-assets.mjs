#!/usr/bin/env node
// Copies the dashboard's static files next to the compiled module that serves them
// (dist/src/daemon/api/dashboard/), so `dist/src/` alone is what `npm pack` has to ship.
// The old copy is removed first: a file deleted from the source must not linger in dist.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const from = join(root, 'src', 'daemon', 'api', 'dashboard');
const to = join(root, 'dist', 'src', 'daemon', 'api', 'dashboard');
rmSync(to, { recursive: true, force: true });
if (existsSync(from)) cpSync(from, to, { recursive: true });
