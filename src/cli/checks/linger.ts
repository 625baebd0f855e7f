// systemd only: without linger the user manager (and the meter's units with it) stops when the last
// session ends and starts only at the next login. Off is "off", not broken: the meter runs now.
// doctor never enables it (a login setting); the fix says how.
import { lingerEnabled } from '../../service/systemctl.js';
import { manual, ok, warn, type Check } from './types.js';

export const lingerCheck: Check = {
  id: 'linger',
  title: 'linger',
  async run(f) {
    if (f.mode === null) return null;
    if (f.mode === 'process') return ok('not needed: the process supervisor does not depend on a login session');
    const user = f.deps.user;
    const l = await lingerEnabled(user, f.ctx.env);
    if (l.linger === true) return ok(`enabled for ${user}: the meter runs from boot, without a login session`);
    if (l.linger === false) {
      return warn(`off for ${user}: the units stop when your last session ends and start only at login`, manual(`loginctl enable-linger ${user}`));
    }
    return ok(`cannot tell (${l.detail}); to run without a login session: loginctl enable-linger ${user}`);
  },
};
