/**
 * What the cron learns from a system's log for its users' priors, from rollups only (never the raw log: the cost
 * follows arms x hours or cells x days, not decisions):
 *   - pooled priors' population statistics: per (agent type, arm), the sufficient statistics of
 *     src/bandit/pooling.ts over the window's (user, arm, day) units;
 *   - for a system with context_features, the context model (src/bandit/contextual.ts), fitted from the window's
 *     context_rollups cells (migration 0011).
 * Never on the select/update path; written next to the system's config (and its version bumped, so ArmsObjects get
 * the snapshot with them) only when they changed.
 */

import { recordOf, setRecord } from "../../src/bandit/arm-records.js";
import {
  type ContextCell,
  type ContextFeatures,
  ContextFeaturesSchema,
  type ContextModel,
  type ContextStats,
  fitContextModel,
  parseContextModel,
} from "../../src/bandit/contextual.js";
import { type ArmPopulation, armPopulationOf, type Population, parsePopulation, setArmPopulation } from "../../src/bandit/pooling.js";
import type { Env } from "../env";
import { logDatabaseOf } from "./log-database";
import { clearSystemCache } from "./systems";

/** Rewards older than this no longer shape the population or the context model (behaviour drifts; the log grows). */
const POPULATION_WINDOW_DAYS = 30;

/** The start of the window the population and the context model learn from. */
export function populationWindowStart(now = Date.now()): Date {
  return new Date(now - POPULATION_WINDOW_DAYS * 86_400_000);
}
/** (agent type, arm) pairs kept per system, the most rewarded first: agent types are the clients' to choose. */
const MAX_ARMS = 2000;

/**
 * Whether new statistics differ enough to be worth a new system version (each one makes every active user's
 * object fetch the snapshot again): an arm appearing or going, or one whose users, rewards or mean moved.
 */
function materiallyChanged(previous: Population | null, next: Population): boolean {
  if (!previous) return Object.keys(next.agent_types).length > 0;
  const pairs = (p: Population) =>
    Object.entries(p.agent_types).flatMap(([agent, arms]) => Object.keys(arms).map((arm) => [agent, arm] as const));
  const before = pairs(previous);
  const after = pairs(next);
  if (before.length !== after.length) return true;
  return after.some(([agent, arm]) => {
    const a = armPopulationOf(previous, agent, arm);
    const b = armPopulationOf(next, agent, arm) as ArmPopulation;
    if (!a) return true;
    const relative = (x: number, y: number) => Math.abs(x - y) / Math.max(1, x);
    const mean = (p: ArmPopulation) => (p.n > 0 ? p.sum / p.n : 0);
    return relative(a.users, b.users) > 0.05 || relative(a.n, b.n) > 0.1 || Math.abs(mean(a) - mean(b)) > 0.005;
  });
}

/**
 * The rollup query of a population: whole UTC days since `since`, so every (user, arm, day) unit is counted with
 * all its rewards. Exported for the test that checks the refresh reads rollups only.
 */
export const POPULATION_QUERY = `SELECT agent_type, arm_id, SUM(units) AS users, SUM(rewarded) AS n, SUM(reward_sum) AS sum,
    SUM(reward_sum_sq) AS sum_sq, SUM(unit_sum_sq) AS user_sum_sq, SUM(unit_n_sq) AS user_n_sq
  FROM decision_rollups WHERE system = ?1 AND hour >= ?2
  GROUP BY agent_type, arm_id HAVING SUM(rewarded) > 0
  ORDER BY n DESC, agent_type, arm_id LIMIT ${MAX_ARMS}`;

/** The population statistics of a system's rewarded decisions since the start of `since`'s UTC day. */
async function populationFromRollups(db: D1Database, system: string, since: Date, now = new Date()): Promise<Population> {
  const { results } = await db
    .prepare(POPULATION_QUERY)
    .bind(system, since.toISOString().slice(0, 10))
    .all<{ agent_type: string; arm_id: string } & ArmPopulation>();
  const agentTypes: Population["agent_types"] = {};
  for (const { agent_type, arm_id, ...stats } of results) setArmPopulation(agentTypes, agent_type, arm_id, stats);
  return { computed_at: now.toISOString(), agent_types: agentTypes };
}

/** Cells read per system at most, the most weighty first: a feature with endless distinct values cannot make it more. */
const MAX_CONTEXT_CELLS = 50_000;

/** The context model's cells of a system since the start of `since`'s UTC day, summed over days. */
const cellsQuery = (where: string) => `SELECT agent_type, arm_id, a, b, SUM(xx) AS xx, SUM(xy) AS xy, SUM(yy) AS yy
  FROM context_rollups WHERE system = ?1 AND day >= ?2${where}
  GROUP BY agent_type, arm_id, a, b ORDER BY SUM(xx) DESC LIMIT ${MAX_CONTEXT_CELLS}`;
/** Every cell: what the model is fitted from. */
export const CONTEXT_CELLS_QUERY = cellsQuery("");
/**
 * The cells the system page reads (contextView): one agent type's diagonals (a token's count and reward sum) and the
 * intercept's row (each token's Σ x), about 2k of an arm's k²/2.
 */
const VIEW_CELLS_QUERY = cellsQuery(" AND agent_type = ?3 AND (a = b OR a = '')");

/** The cells since `since`: all of them, or with `view`, only those the system page shows for its agent type. */
export async function contextStatsFromRollups(
  db: D1Database,
  system: string,
  since: Date,
  view?: { agentType: string },
): Promise<ContextStats> {
  const day = since.toISOString().slice(0, 10);
  const statement = view
    ? db.prepare(VIEW_CELLS_QUERY).bind(system, day, view.agentType)
    : db.prepare(CONTEXT_CELLS_QUERY).bind(system, day);
  const { results } = await statement.all<{
    agent_type: string;
    arm_id: string;
    a: string;
    b: string;
    xx: number;
    xy: number;
    yy: number;
  }>();
  const stats: ContextStats = { agent_types: {} };
  for (const { agent_type, arm_id, a, b, xx, xy, yy } of results) {
    const cells = recordOf(stats.agent_types, agent_type, arm_id) ?? setRecord<ContextCell[]>(stats.agent_types, agent_type, arm_id, []);
    cells.push([a, b, xx, xy, yy]);
  }
  return stats;
}

/** Whether a new model differs enough to be worth a new system version: its dimensions, its arms, their rewards or predictions. */
function modelChanged(previous: ContextModel | null, next: ContextModel): boolean {
  if (!previous) return Object.keys(next.agent_types).length > 0;
  if (previous.dimensions.join("\u0000") !== next.dimensions.join("\u0000")) return true;
  const arms = (m: ContextModel) =>
    Object.entries(m.agent_types).flatMap(([agent, byArm]) => Object.entries(byArm).map(([arm, model]) => ({ agent, arm, model })));
  const after = arms(next);
  if (arms(previous).length !== after.length) return true;
  return after.some(({ agent, arm, model }) => {
    const old = recordOf(previous.agent_types, agent, arm);
    if (!old) return true;
    return Math.abs(old.n - model.n) / Math.max(1, old.n) > 0.05 || model.mean.some((w, i) => Math.abs(w - (old.mean[i] ?? 0)) > 0.005);
  });
}

function contextFeaturesOf(config: { context_features?: unknown }): ContextFeatures {
  const parsed = ContextFeaturesSchema.safeParse(config.context_features);
  return parsed.success ? parsed.data : {};
}

/**
 * The cron's step: refresh the population of every pooling system and the context model of every system with
 * context features; the names of those that changed. Context cells older than the window are dropped.
 */
export async function refreshPopulations(env: Env, now = Date.now()): Promise<string[]> {
  const { results } = await env.DB.prepare(
    `SELECT name, config, population, context_model, log_database FROM systems
     WHERE COALESCE(json_extract(config, '$.pooling.enabled'), 1) = 1 OR json_extract(config, '$.context_features') != '{}'`,
  ).all<{ name: string; config: string; population: string | null; context_model: string | null; log_database: string | null }>();
  const since = populationWindowStart(now);
  const changed: string[] = [];
  for (const row of results) {
    try {
      const db = logDatabaseOf(env, row);
      const config = JSON.parse(row.config) as { pooling?: { enabled?: boolean }; context_features?: unknown };
      const pools = config.pooling?.enabled !== false;
      const features = contextFeaturesOf(config);
      const previous = row.population ? parsePopulation(JSON.parse(row.population)) : null;
      const population = pools ? await populationFromRollups(db, row.name, since, new Date(now)) : previous;
      let model = row.context_model ? parseContextModel(JSON.parse(row.context_model)) : null;
      let modelMoved = false;
      if (Object.keys(features).length > 0) {
        await db
          .prepare("DELETE FROM context_rollups WHERE system = ?1 AND day < ?2")
          .bind(row.name, since.toISOString().slice(0, 10))
          .run();
        const next = fitContextModel(features, await contextStatsFromRollups(db, row.name, since), new Date(now));
        modelMoved = modelChanged(model, next);
        if (modelMoved) model = next;
      }
      const populationMoved = pools && population !== null && materiallyChanged(previous, population);
      if (!populationMoved && !modelMoved) continue;
      await env.DB.prepare("UPDATE systems SET population = ?1, context_model = ?2, version = version + 1 WHERE name = ?3")
        .bind(population ? JSON.stringify(population) : null, model ? JSON.stringify(model) : null, row.name)
        .run();
      clearSystemCache(row.name);
      changed.push(row.name);
    } catch (error) {
      // One system's failure must not keep the others stale; the next cron tries it again.
      console.error(`population of ${row.name}: refresh failed`, error);
    }
  }
  return changed;
}
