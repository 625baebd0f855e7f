// `halton-meter projects list|rename|archive` (SPEC §7). list reads the database read-only; rename
// and archive write one row of `projects` (never the requests: a project's rows follow its id).
import { existsSync } from 'node:fs';
import { MeterError } from '../../core/errors.js';
import { archiveProject, listProjectOverviews, openDb, renameProject, type Db } from '../../store/index.js';
import type { Style } from '../output/style.js';
import { renderTable, type ColumnSpec } from '../output/table.js';
import { usd } from './report.js';

export interface ProjectsDeps {
  dbPath: string;
  out: (text: string) => void;
  style: Style;
  width: number | undefined;
}

function noDatabase(path: string): MeterError {
  return new MeterError('not_found', `no database at ${path}`, 'it is created when the meter first starts: halton-meter init');
}

function withDb<T>(deps: ProjectsDeps, readonly: boolean, fn: (db: Db) => T): T {
  // Never create the file from here: an absent database means nothing was metered yet.
  if (!existsSync(deps.dbPath)) throw noDatabase(deps.dbPath);
  const db = openDb(deps.dbPath, { readonly });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export async function projectsListCommand(deps: ProjectsDeps, opts: { json?: boolean }): Promise<number> {
  if (!existsSync(deps.dbPath)) {
    if (opts.json) deps.out('[]');
    else deps.out(`No database yet at ${deps.dbPath}: no projects.`);
    return 0;
  }
  const list = withDb(deps, true, listProjectOverviews);
  if (opts.json) {
    deps.out(
      JSON.stringify(
        list.map((p) => ({
          slug: p.slug,
          name: p.name,
          created_at: p.createdAt,
          archived_at: p.archivedAt,
          requests: p.requests,
          cost_usd_minor_units: p.costMinor,
          last_request_at: p.lastRequestAt,
        })),
        null,
        2,
      ),
    );
    return 0;
  }
  if (list.length === 0) {
    deps.out('No projects yet.');
    return 0;
  }
  const columns: ColumnSpec[] = [
    { header: 'project', minWidth: 12 },
    { header: 'requests', align: 'right' },
    { header: 'cost (all time)', align: 'right' },
    { header: 'last request', dropOrder: 2 },
    { header: 'state', dropOrder: 1 },
  ];
  const rows = list.map((p) => [
    p.slug,
    p.requests.toLocaleString('en-US'),
    usd(p.costMinor),
    p.lastRequestAt === null ? '-' : p.lastRequestAt.slice(0, 16).replace('T', ' '),
    p.archivedAt === null ? 'active' : `archived ${p.archivedAt.slice(0, 10)}`,
  ]);
  deps.out(renderTable(columns, rows, { width: deps.width, headerStyle: deps.style.bold }).lines.join('\n'));
  return 0;
}

export async function projectsRenameCommand(deps: ProjectsDeps, oldSlug: string, newSlug: string): Promise<number> {
  if (oldSlug === newSlug) throw new MeterError('bad_argument', 'the old and new names are the same');
  withDb(deps, false, (db) => renameProject(db, oldSlug, newSlug));
  deps.out(`Renamed project ${oldSlug} → ${newSlug}.`);
  return 0;
}

export async function projectsArchiveCommand(deps: ProjectsDeps, slug: string): Promise<number> {
  const changed = withDb(deps, false, (db) => archiveProject(db, slug));
  deps.out(changed ? `Archived project ${slug}: hidden from reports unless named with --project.` : `Project ${slug} was already archived.`);
  return 0;
}
