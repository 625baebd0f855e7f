// ~/.halton-meter/install-mode: which supervisor init installed the meter under, and whether that
// supervisor can be asked at all (systemd: the user manager answers).
import { tilde } from '../steps.js';
import { fail, manual, ok, warn, type Check } from './types.js';

export const installModeCheck: Check = {
  id: 'install-mode',
  title: 'install mode',
  run(f) {
    const { paths } = f.ctx.config;
    if (f.mode === null) {
      if (f.edge.up && f.daemon.reachable) {
        return warn('not installed as a service: the edge and the daemon run, but nothing restarts them (halton-meter serve?)', f.fixes.install);
      }
      return fail(`not installed as a service (no ${tilde(paths.installMode, paths.home)}): nothing runs the meter`, f.fixes.install);
    }
    if (f.mode === 'systemd' && f.view?.problem) {
      return fail(
        `systemd user units, but the user manager does not answer: ${f.view.problem}`,
        manual('halton-meter init --apps --supervisor process  # or run doctor from a normal login session'),
      );
    }
    return ok(f.mode === 'systemd' ? `systemd user units (${tilde(paths.unitDir, paths.home)})` : 'process supervisor (no systemd)');
  },
};
