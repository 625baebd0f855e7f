// The three loopback ports in force (effective-ports.json over config) against who listens on them:
// free, our own edge/daemon, or another process. Another process on a port of ours means that
// component cannot listen: traffic cannot flow (edge) or is not metered (daemon). The fix names the
// process and the kill command; doctor never runs it (it does not kill what it did not start), and
// never moves the meter to a fallback port either (apps point at the edge port): init does that.
import { inspectEffectivePorts } from '../../config/effective-ports.js';
import { tilde } from '../steps.js';
import { PORT_KEYS, PORT_OWNER, freePortsFix, initFix } from './facts.js';
import { fail, ok, warn, type Check } from './types.js';

const JSON_KEY = { edge: 'edge_port', internal: 'internal_port', api: 'api_port' } as const;

export const portsCheck: Check = {
  id: 'ports',
  title: 'ports',
  run(f) {
    const { paths, ports: wanted } = f.ctx.config;
    const file = tilde(paths.effectivePorts, paths.home);
    const parts = PORT_KEYS.map((k) => {
      const o = f.occupants[k];
      const port = f.ports[k];
      const asked = wanted[k] !== port ? `, config asks for ${wanted[k]}` : '';
      if (o.kind === 'ours') return `${k} ${port} (our ${PORT_OWNER[k]}, pid ${o.pid}${asked})`;
      if (o.kind === 'free') return `${k} ${port} (nothing listens${asked})`;
      return `${k} 127.0.0.1:${port} is held by ${o.name}${o.pid ? ` (pid ${o.pid})` : ''}, not by our ${PORT_OWNER[k]}`;
    });
    const held = PORT_KEYS.filter((k) => f.occupants[k].kind === 'other');
    if (held.length) {
      const who = [...new Set(held.map((k) => PORT_OWNER[k]))].join(' and the ');
      return fail(`${parts.join(', ')}: the ${who} cannot listen; doctor never kills a process it did not start`, freePortsFix(f));
    }
    const eff = inspectEffectivePorts(paths.effectivePorts);
    if (eff.state === 'corrupt') return warn(`${parts.join(', ')}; ${eff.problem}`, initFix(f));
    if (eff.state === 'missing') {
      return f.mode === null ? ok(`${parts.join(', ')}; no ${file} yet`) : warn(`${parts.join(', ')}; ${file} is missing`, initFix(f));
    }
    const off = PORT_KEYS.filter((k) => eff.value[JSON_KEY[k]] !== undefined && eff.value[JSON_KEY[k]] !== f.ports[k]);
    if (off.length) {
      return warn(
        `${parts.join(', ')}; ${file} records ${off.map((k) => `${k} ${eff.value[JSON_KEY[k]]}`).join(', ')} (a HALTON_METER_*_PORT variable overrides it; init re-validates it)`,
        initFix(f),
      );
    }
    return ok(`${parts.join(', ')}; ${file} agrees`);
  },
};
