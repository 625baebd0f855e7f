// ~/.halton-meter/db.sqlite, opened read-only (doctor never migrates or writes it): it opens, its
// migrations are ones this version knows, and the daemon can write it. A database written by a newer
// version (a rollback without the data) makes the daemon read-only: nothing is recorded (fail).
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage } from '../../core/errors.js';
import { LATEST_MIGRATION_ID, appliedMigrations, countRequests, openDb } from '../../store/index.js';
import { tilde } from '../steps.js';
import { fail, manual, ok, type Check } from './types.js';

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export const databaseCheck: Check = {
  id: 'database',
  title: 'database',
  run(f) {
    const path = f.ctx.config.paths.db;
    const where = tilde(path, f.ctx.config.paths.home);
    if (!existsSync(path)) return ok(`${where} not created yet (the daemon creates it when it starts)`);
    let db;
    try {
      db = openDb(path, { readonly: true });
    } catch (e) {
      return fail(`${where} does not open: ${errorMessage(e)}; the daemon cannot record`, manual(`mv ${where} ${where}.broken && halton-meter restart  # keeps the old file aside`));
    }
    try {
      if (db.newerThanCode) return fail(`${db.notice ?? `${where} was written by a newer halton-meter`}`, f.fixes.upgrade);
      if (!writable(path) || !writable(dirname(path))) {
        return fail(`${where} (or its directory) is not writable by you: the daemon cannot record`, manual(`chmod u+w ${where} ${tilde(dirname(path), f.ctx.config.paths.home)}`));
      }
      const applied = appliedMigrations(db).map((m) => m.id);
      const top = applied.length ? Math.max(...applied) : 0;
      const schema =
        top >= LATEST_MIGRATION_ID
          ? `schema ${top}${top > LATEST_MIGRATION_ID ? ` (newer, additive: readable and writable by this version)` : ''}`
          : `schema ${top}, migration ${LATEST_MIGRATION_ID} applies when the daemon of this version opens it`;
      return ok(`${where}: ${countRequests(db)} rows, ${schema}`);
    } finally {
      db.close();
    }
  },
};
