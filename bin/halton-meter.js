#!/usr/bin/env node
// Entry point. The two long-running processes get their own wiring roots so that neither loads the
// CLI (and the edge loads no npm package at all); everything else is the command-line interface.
const command = process.argv[2];
if (command === 'edge') await import('../dist/src/edge/process.js');
else if (command === 'daemon') await import('../dist/src/daemon/process.js');
else await import('../dist/src/cli/main.js');
