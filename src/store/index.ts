// The store's public surface: the daemon, CLI and API import from here, never from the driver.
export { DEFAULT_BUSY_TIMEOUT_MS, openDb, sqliteCode, type Db, type OpenOptions, type Statement } from './db.js';
export {
  LATEST_MIGRATION_ID,
  MIGRATIONS,
  appliedMigrations,
  describeSchema,
  tableColumns,
  unknownMigrationIds,
  type MigrateResult,
  type Migration,
  type MigrationRecord,
  type SchemaObject,
} from './migrations.js';
export {
  clearProjectCache,
  ensureProject,
  getProjectBySlug,
  listProjects,
  type ListProjectsOptions,
  type ProjectRecord,
} from './projects.js';
export {
  countRequests,
  getRequest,
  insertRequests,
  listRequests,
  requestPage,
  type ListRequestsOptions,
  type PageCursor,
  type RequestPage,
  type RequestPageQuery,
} from './requests.js';
export { projectsWithModels, type MonthBounds, type ProjectModelTotals, type ProjectWithModels } from './project-stats.js';
export { LOSS_REASONS, RowWriter, type LossReason, type RowWriterOptions, type RowWriterStats, type StoreEventHandler } from './writer.js';
export {
  AUDIT_KINDS,
  insertAuditEvent,
  listAuditEvents,
  type AuditEvent,
  type AuditEventInput,
  type AuditKind,
  type ListAuditOptions,
} from './audit.js';
export {
  applyRecost,
  listRecostCandidates,
  type ApplyResult,
  type CostFigure,
  type RecostChange,
  type RecostCandidate,
  type RecostCursor,
  type RecostPageOptions,
} from './recost.js';
export { findRequestByProviderId } from './lookups.js';
export {
  bodiesStats,
  getBodies,
  getProjectSetting,
  insertBodies,
  projectsWithSetting,
  setProjectSetting,
  type BodiesProjectStats,
  type BodiesStats,
  type BodyRecord,
  type StoredBody,
} from './bodies.js';
export {
  SELFTEST_PROJECT,
  STATS_GROUPS,
  statsAggregate,
  statsCells,
  type StatsCell,
  statsGroups,
  statsSummary,
  type GroupOptions,
  type StatsAggregate,
  type StatsFilter,
  type StatsGroup,
  type StatsGroupRow,
  type StatsSummary,
  type StatsTotals,
} from './stats.js';
export { archiveProject, listProjectOverviews, renameProject, type ProjectOverview } from './project-admin.js';
