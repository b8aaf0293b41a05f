/** The decision log in D1: one row per decision, its reward filled in when it arrives. Written in batches. */
import type { ArmTally } from "../../src/runtime/summary.js";

export interface DecisionRow {
  decision_id: string;
  system: string;
  agent_type: string;
  user_id: string;
  arm_id: string;
  params: string;
  selection_probability: number | null;
  context: string;
  created_at: string;
  reward: number | null;
  engagement: number | null;
  grading: number | null;
  reward_source: string | null;
  rewarded_at: string | null;
  /** The update's metadata (JSON), as the app sent it. */
  update_metadata: string | null;
}

const COLUMNS = [
  "decision_id",
  "system",
  "agent_type",
  "user_id",
  "arm_id",
  "params",
  "selection_probability",
  "context",
  "created_at",
  "reward",
  "engagement",
  "grading",
  "reward_source",
  "rewarded_at",
  "update_metadata",
] as const;

// 15 bound parameters per statement (D1 allows 100); a batch is one round trip and one transaction.
const UPSERT = `INSERT INTO decisions (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((_, i) => `?${i + 1}`).join(", ")})
  ON CONFLICT(decision_id) DO UPDATE SET reward = excluded.reward, engagement = excluded.engagement, grading = excluded.grading,
  reward_source = excluded.reward_source, rewarded_at = excluded.rewarded_at, update_metadata = excluded.update_metadata`;

export async function writeDecisions(db: D1Database, rows: readonly DecisionRow[]): Promise<void> {
  if (rows.length === 0) return;
  const statement = db.prepare(UPSERT);
  await db.batch(rows.map((row) => statement.bind(...COLUMNS.map((c) => row[c]))));
}

/** Per arm of a system: selections, rewarded selections and the sum of rewards, from the decision log. */
export async function armTallies(db: D1Database, system: string): Promise<Map<string, ArmTally>> {
  const { results } = await db
    .prepare(
      `SELECT arm_id, COUNT(*) AS pulls, COUNT(reward) AS rewarded, COALESCE(SUM(reward), 0) AS reward_sum
       FROM decisions WHERE system = ? GROUP BY arm_id`,
    )
    .bind(system)
    .all<{ arm_id: string } & ArmTally>();
  return new Map(results.map(({ arm_id, ...tally }) => [arm_id, tally]));
}

/** The system's latest decisions, newest first. */
export async function recentDecisions(db: D1Database, system: string, limit: number) {
  const { results } = await db
    .prepare(
      `SELECT decision_id, user_id, agent_type, arm_id, selection_probability, created_at, reward
       FROM decisions WHERE system = ? ORDER BY created_at DESC LIMIT ?`,
    )
    .bind(system, limit)
    .all<{
      decision_id: string;
      user_id: string;
      agent_type: string;
      arm_id: string;
      selection_probability: number | null;
      created_at: string;
      reward: number | null;
    }>();
  return results;
}
