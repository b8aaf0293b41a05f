/**
 * Pooled priors' population statistics, from the log's rollups: per (agent type, arm), the sufficient statistics
 * of src/bandit/pooling.ts over the window's (user, arm, day) units, one aggregate over rollup rows per system
 * (never the raw log: its cost follows arms x hours, not decisions). Run by the cron, never on the select/update
 * path; written next to the system's config (and its version bumped, so ArmsObjects get the snapshot with it) only
 * when they changed.
 */
import { type ArmPopulation, armPopulationOf, type Population, parsePopulation, setArmPopulation } from "../../src/bandit/pooling.js";
import type { Env } from "../env";
import { logDatabaseOf } from "./log-database";
import { clearSystemCache } from "./systems";

/** Rewards older than this no longer shape the population (behaviour drifts; the log grows). */
const POPULATION_WINDOW_DAYS = 30;
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

/** The cron's step: refresh every pooling system's population; the names of those that changed. */
export async function refreshPopulations(env: Env, now = Date.now()): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT name, population, log_database FROM systems WHERE COALESCE(json_extract(config, '$.pooling.enabled'), 1) = 1",
  ).all<{ name: string; population: string | null; log_database: string | null }>();
  const since = new Date(now - POPULATION_WINDOW_DAYS * 86_400_000);
  const changed: string[] = [];
  for (const row of results) {
    try {
      const population = await populationFromRollups(logDatabaseOf(env, row), row.name, since, new Date(now));
      const previous = row.population ? parsePopulation(JSON.parse(row.population)) : null;
      if (!materiallyChanged(previous, population)) continue;
      await env.DB.prepare("UPDATE systems SET population = ?1, version = version + 1 WHERE name = ?2")
        .bind(JSON.stringify(population), row.name)
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
