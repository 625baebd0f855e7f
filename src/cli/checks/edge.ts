// The edge: the HTTPS_PROXY endpoint apps point at. Down means every app with HTTPS_PROXY fails to
// connect. A healthy edge running an older version is fine: init never restarts a healthy edge, the
// new version applies at its next start.
import { foreignPorts, freePortsFix } from './facts.js';
import { fail, manual, ok, type Check } from './types.js';

export const edgeCheck: Check = {
  id: 'edge',
  title: 'edge',
  run(f) {
    const port = f.ports.edge;
    if (f.edge.up) {
      const older =
        f.edge.version && f.edge.version !== f.deps.version
          ? `; runs ${f.edge.version} (this CLI is ${f.deps.version}): a healthy edge is never restarted, the new version applies at its next start`
          : '';
      return ok(`serving on 127.0.0.1:${port}${f.edge.pid ? ` (pid ${f.edge.pid})` : ''}${older}`);
    }
    const cannot = `apps with HTTPS_PROXY=http://127.0.0.1:${port} cannot connect`;
    const foreign = foreignPorts(f, 'edge');
    if (foreign.length) {
      const h = foreign[0];
      return fail(`not running: ${h.name}${h.pid ? ` (pid ${h.pid})` : ''} holds 127.0.0.1:${port}; ${cannot}`, freePortsFix(f));
    }
    if (f.occupants.edge.kind === 'ours') {
      return fail(`our edge (pid ${f.occupants.edge.pid}) holds 127.0.0.1:${port} but does not answer /health; ${cannot}`, manual('halton-meter restart --edge'));
    }
    if (f.mode === null) return fail(`not answering on 127.0.0.1:${port}; ${cannot}`, f.fixes.install);
    const held = f.view?.edge.held ? ' (stopped with halton-meter stop --edge)' : '';
    return fail(`not answering on 127.0.0.1:${port}${held}; ${cannot}${f.view ? ` (supervisor: ${f.view.edge.detail})` : ''}`, f.fixes.start);
  },
};
