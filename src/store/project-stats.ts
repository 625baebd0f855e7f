// Per-project figures for the API's project list (docs/api.md: this month, last month, all time,
// primary and top model). One grouped pass over `requests`, by project, provider and model, with
// the month sums as conditional aggregates; the shaping into the API's JSON is core/api-shapes.ts's.
import type { Db } from './db.js';

export interface ProjectModelTotals {
  provider: string;
  model: string | null;
  requests: number;
  costMinor: number;
  monthRequests: number;
  monthCostMinor: number;
  previousMonthCostMinor: number;
  lastRequestAt: string | null;
}

export interface ProjectWithModels {
  id: number;
  slug: string;
  name: string;
  createdAt: string;
  archivedAt: string | null;
  models: ProjectModelTotals[];
}

export interface MonthBounds {
  /** First instant of this month, ISO-8601 UTC. */
  monthStart: string;
  /** First instant of the month before. */
  previousMonthStart: string;
}

/** Every project (or the one named) with its totals per provider and model. */
export function projectsWithModels(db: Db, months: MonthBounds, slug?: string): ProjectWithModels[] {
  const projects = db
    .prepare<{ id: number; slug: string; name: string; created_at: string; archived_at: string | null }>(
      `SELECT id, slug, name, created_at, archived_at FROM projects ${slug === undefined ? '' : 'WHERE slug = ?'} ORDER BY slug`,
    )
    .all(...(slug === undefined ? [] : [slug]));
  if (projects.length === 0) return [];
  const byId = new Map<number, ProjectWithModels>(
    projects.map((p) => [p.id, { id: p.id, slug: p.slug, name: p.name, createdAt: p.created_at, archivedAt: p.archived_at, models: [] }]),
  );
  const rows = db
    .prepare<{
      project_id: number;
      provider: string;
      model: string | null;
      requests: number;
      cost: number;
      month_requests: number;
      month_cost: number;
      prev_cost: number;
      last: string | null;
    }>(
      `SELECT project_id, provider, model, COUNT(*) AS requests,
         COALESCE(SUM(cost_usd_minor_units), 0) AS cost,
         COALESCE(SUM(requested_at >= @month), 0) AS month_requests,
         COALESCE(SUM(CASE WHEN requested_at >= @month THEN cost_usd_minor_units END), 0) AS month_cost,
         COALESCE(SUM(CASE WHEN requested_at >= @prev AND requested_at < @month THEN cost_usd_minor_units END), 0) AS prev_cost,
         MAX(requested_at) AS last
       FROM requests WHERE project_id IN (SELECT value FROM json_each(@ids)) GROUP BY 1, 2, 3`,
    )
    .all({ month: months.monthStart, prev: months.previousMonthStart, ids: JSON.stringify([...byId.keys()]) });
  for (const r of rows) {
    byId.get(r.project_id)?.models.push({
      provider: r.provider,
      model: r.model,
      requests: r.requests,
      costMinor: r.cost,
      monthRequests: r.month_requests,
      monthCostMinor: r.month_cost,
      previousMonthCostMinor: r.prev_cost,
      lastRequestAt: r.last,
    });
  }
  return [...byId.values()];
}
