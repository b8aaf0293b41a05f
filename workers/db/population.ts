/**
 * Pooled priors' population statistics, from the decision log: per (agent type, arm), the sufficient statistics
 * of src/bandit/pooling.ts, summed over users in one aggregate query per system. Run by the cron, never on the
 * select/update path; written next to the system's config (and its version bumped, so ArmsObjects get the
 * snapshot with it) only when they changed.
 */
import { type Population, PopulationSchema, setArmPopulation } from "../../src/bandit/pooling.js";
import type { Env } from "../env";
import { clearSystemCache } from "./systems";

/** Rewards older than this no longer shape the population (behaviour drifts; the log grows). */
export const POPULATION_WINDOW_DAYS = 30;

interface AggregateRow {
  agent_type: string;
  arm_id: string;
  users: number;
  n: number;
  sum: number;
  sum_sq: number;
  user_sum_sq: number;
  user_n_sq: number;
}

/** The population statistics of a system's rewarded decisions since `since` (ISO time). */
export async function populationFromLog(db: D1Database, system: string, since: string, now = new Date()): Promise<Population> {
  const { results } = await db
    .prepare(
      `SELECT agent_type, arm_id, COUNT(*) AS users, SUM(n) AS n, SUM(s) AS sum, SUM(ss) AS sum_sq,
         SUM(s * s / n) AS user_sum_sq, SUM(n * n) AS user_n_sq
       FROM (SELECT agent_type, arm_id, user_id, COUNT(*) AS n, SUM(reward) AS s, SUM(reward * reward) AS ss
             FROM decisions WHERE system = ?1 AND reward IS NOT NULL AND created_at >= ?2
             GROUP BY agent_type, arm_id, user_id)
       GROUP BY agent_type, arm_id`,
    )
    .bind(system, since)
    .all<AggregateRow>();
  const agentTypes: Population["agent_types"] = {};
  for (const { agent_type, arm_id, ...stats } of results) setArmPopulation(agentTypes, agent_type, arm_id, stats);
  return PopulationSchema.parse({ computed_at: now.toISOString(), agent_types: agentTypes });
}

/** The cron's step: refresh every pooling system's population; the names of those that changed. */
export async function refreshPopulations(env: Env, now = Date.now()): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT name, population FROM systems WHERE COALESCE(json_extract(config, '$.pooling.enabled'), 1) = 1",
  ).all<{ name: string; population: string | null }>();
  const since = new Date(now - POPULATION_WINDOW_DAYS * 86_400_000).toISOString();
  const changed: string[] = [];
  for (const row of results) {
    const population = await populationFromLog(env.DB, row.name, since, new Date(now));
    const previous = row.population ? (JSON.parse(row.population) as Population) : null;
    if (previous && JSON.stringify(previous.agent_types) === JSON.stringify(population.agent_types)) continue;
    if (!previous && Object.keys(population.agent_types).length === 0) continue;
    await env.DB.prepare("UPDATE systems SET population = ?1, version = version + 1 WHERE name = ?2")
      .bind(JSON.stringify(population), row.name)
      .run();
    clearSystemCache(row.name);
    changed.push(row.name);
  }
  return changed;
}
