/**
 * A system's arms hour by hour (GET /v1/systems/{system}/timeline, the dashboard's charts over time), read from the
 * decision rollups only (migrations/0008_decision_log.sql): never the raw log, so its cost does not grow with
 * traffic and archived or forgotten decisions still count. Pass the system's log database (logDatabaseOf).
 */
import type { ArmTemplate, SystemTimeline } from "../../src/runtime/schema.js";

const HOUR_MS = 3_600_000;

interface HourRow {
  hour: string;
  arm_id: string;
  selections: number;
  rewarded: number;
  reward_sum: number;
}

/** The rollup key of an hour ('YYYY-MM-DDTHH', as the triggers write it) of a time. */
const hourKey = (ms: number): string => new Date(ms).toISOString().slice(0, 13);

/** Each hour's totals per arm, summed over agent types unless one is given; hours with nothing have no row. */
async function hourlyRollups(db: D1Database, system: string, first: string, last: string, agentType?: string): Promise<HourRow[]> {
  const byType = agentType === undefined ? "" : " AND agent_type = ?";
  const { results } = await db
    .prepare(
      `SELECT hour, arm_id, SUM(selections) AS selections, SUM(rewarded) AS rewarded, SUM(reward_sum) AS reward_sum
       FROM decision_rollups WHERE system = ? AND hour >= ? AND hour <= ?${byType} GROUP BY hour, arm_id`,
    )
    .bind(system, first, last, ...(agentType === undefined ? [] : [agentType]))
    .all<HourRow>();
  return results;
}

/**
 * The last `hours` UTC hours ending with the one `now` is in, each arm's totals as arrays as long as the hours (0
 * where nothing happened). Arms: the config's in its order, then others seen in the window by id.
 */
export async function systemTimeline(
  db: D1Database,
  system: { name: string; arms: readonly ArmTemplate[] },
  hours: number,
  options: { agentType?: string; now?: number } = {},
): Promise<SystemTimeline> {
  const current = Math.floor((options.now ?? Date.now()) / HOUR_MS) * HOUR_MS;
  const starts = Array.from({ length: hours }, (_, i) => current - (hours - 1 - i) * HOUR_MS);
  const keys = starts.map(hourKey);
  const index = new Map(keys.map((key, i) => [key, i]));
  const rows = await hourlyRollups(db, system.name, keys[0] as string, keys[keys.length - 1] as string, options.agentType);

  const names = new Map(system.arms.map((a) => [a.arm_id, a.name ?? null]));
  const others = [...new Set(rows.map((r) => r.arm_id).filter((id) => !names.has(id)))].sort();
  const arms = [...system.arms.map((a) => a.arm_id), ...others].map((arm_id) => ({
    arm_id,
    name: names.get(arm_id) ?? null,
    selections: new Array<number>(hours).fill(0),
    rewarded: new Array<number>(hours).fill(0),
    reward_sum: new Array<number>(hours).fill(0),
  }));
  const byId = new Map(arms.map((a) => [a.arm_id, a]));
  for (const row of rows) {
    const i = index.get(row.hour);
    const arm = byId.get(row.arm_id);
    if (i === undefined || !arm) continue;
    arm.selections[i] = row.selections;
    arm.rewarded[i] = row.rewarded;
    arm.reward_sum[i] = row.reward_sum;
  }
  return {
    system: system.name,
    agent_type: options.agentType ?? null,
    hours: starts.map((ms) => `${hourKey(ms)}:00:00Z`),
    arms,
  };
}
