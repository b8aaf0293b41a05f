/**
 * The decision log in D1: one row per decision, its reward filled in when it arrives, written in batches that
 * combine many users (workers/objects/decision-log-shard.ts). Totals are read from the rollups that migration
 * 0008's triggers keep, never from these rows.
 */
import type { LoggedDecision, SnapshotArm } from "../../src/bandit/offline.js";
import { isPlainObject } from "../../src/json.js";
import type { RecentDecision, RuntimeDecision } from "../../src/runtime/schema.js";
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
  /** The arms when the decision was made, as JSON rows [arm_id, alpha, beta, sampled value] (migration 0004). */
  arms_snapshot: string | null;
  /** The reward's change to its pooling unit (workers/objects/sql-storage.ts); null without a reward. */
  unit_new: number | null;
  unit_sum_sq: number | null;
  unit_n_sq: number | null;
  /** The context as the system's features encode it (src/bandit/contextual.ts), JSON; null without features. */
  features?: string | null;
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
  "arms_snapshot",
  "unit_new",
  "unit_sum_sq",
  "unit_n_sq",
  "features",
] as const;

// One statement per row (20 bound parameters; D1 allows 100); a batch is one round trip and one transaction.
// A row older than the system's archive mark, or made by a user forgotten since, is not written: it arrived late,
// and writing it would put back what retention archived or forgetting removed. A reward is written once: the
// update applies only while the row has none, so a redelivered reward changes nothing and the rollup trigger
// does not fire again. A decision flushed before migration 0004 gets its snapshot when its reward is flushed.
const UPSERT = `INSERT INTO decisions (${COLUMNS.join(", ")}) SELECT ${COLUMNS.map((_, i) => `?${i + 1}`).join(", ")}
  WHERE NOT EXISTS (SELECT 1 FROM decision_archive_marks WHERE system = ?2 AND archived_before > ?9)
    AND NOT EXISTS (SELECT 1 FROM forgotten_users WHERE system = ?2 AND user_id = ?4 AND forgotten_at >= ?9)
  ON CONFLICT(decision_id) DO UPDATE SET reward = excluded.reward, engagement = excluded.engagement, grading = excluded.grading,
  reward_source = excluded.reward_source, rewarded_at = excluded.rewarded_at, update_metadata = excluded.update_metadata,
  unit_new = excluded.unit_new, unit_sum_sq = excluded.unit_sum_sq, unit_n_sq = excluded.unit_n_sq,
  arms_snapshot = COALESCE(decisions.arms_snapshot, excluded.arms_snapshot), features = COALESCE(decisions.features, excluded.features)
  WHERE decisions.reward IS NULL AND excluded.reward IS NOT NULL`;

/** One D1 call for all the rows: the log's unit of write cost. */
export async function writeDecisions(db: D1Database, rows: readonly DecisionRow[]): Promise<void> {
  if (rows.length === 0) return;
  const statement = db.prepare(UPSERT);
  // A row queued by an earlier version has no features.
  await db.batch(rows.map((row) => statement.bind(...COLUMNS.map((c) => row[c] ?? null))));
}

/** Per arm of a system, across agent types and all time: selections, rewarded selections, the sum of rewards. */
export async function armTallies(db: D1Database, system: string): Promise<Map<string, ArmTally>> {
  const { results } = await db
    .prepare(
      `SELECT arm_id, SUM(selections) AS pulls, SUM(rewarded) AS rewarded, SUM(reward_sum) AS reward_sum
       FROM decision_rollups WHERE system = ? GROUP BY arm_id`,
    )
    .bind(system)
    .all<{ arm_id: string } & ArmTally>();
  return new Map(results.map(({ arm_id, ...tally }) => [arm_id, tally]));
}

/** The system's latest decisions, newest first. */
export async function recentDecisions(db: D1Database, system: string, limit: number): Promise<RecentDecision[]> {
  const { results } = await db
    .prepare(
      `SELECT decision_id, user_id, agent_type, arm_id, selection_probability, created_at, reward
       FROM decisions WHERE system = ? ORDER BY created_at DESC LIMIT ?`,
    )
    .bind(system, limit)
    .all<RecentDecision>();
  return results;
}

/** A rewarded decision as offline evaluation reads it, and when it was made (the window of the estimate). */
export type RewardedDecision = LoggedDecision & Pick<RuntimeDecision, "created_at" | "decision_id">;

/** The snapshot column's rows as arms; null when absent or not in that form (the decision is then skipped). */
export function parseArmsSnapshot(text: string | null): SnapshotArm[] | null {
  if (text === null) return null;
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(rows)) return null;
  const arms: SnapshotArm[] = [];
  for (const row of rows) {
    if (!Array.isArray(row)) return null;
    const [arm_id, alpha, beta, , pulls] = row as unknown[];
    if (typeof arm_id !== "string" || typeof alpha !== "number" || typeof beta !== "number") return null;
    arms.push({ arm_id, alpha, beta, ...(typeof pulls === "number" ? { total_pulls: pulls } : {}) });
  }
  return arms;
}

/** The system's newest `limit` rewarded decisions (of one agent type, or of all), newest first, with their contexts. */
export async function rewardedDecisions(
  db: D1Database,
  system: string,
  { limit, agentType }: { limit: number; agentType?: string | undefined },
): Promise<RewardedDecision[]> {
  const byAgent = agentType === undefined ? "" : "AND agent_type = ?3";
  const statement = db.prepare(
    `SELECT decision_id, agent_type, arm_id, reward, selection_probability, arms_snapshot, context, created_at FROM decisions
     WHERE system = ?1 AND reward IS NOT NULL ${byAgent} ORDER BY created_at DESC, decision_id DESC LIMIT ?2`,
  );
  const { results } = await (agentType === undefined ? statement.bind(system, limit) : statement.bind(system, limit, agentType)).all<
    Omit<RewardedDecision, "arms_snapshot" | "context"> & { arms_snapshot: string | null; context: string | null }
  >();
  // The column holds the select's context as JSON text (an object); anything else reads as no context.
  const contextOf = (text: string | null): RewardedDecision["context"] => {
    if (text === null) return null;
    try {
      const value = JSON.parse(text) as unknown;
      return isPlainObject(value) ? (value as RewardedDecision["context"]) : null;
    } catch {
      return null;
    }
  };
  return results.map((row) => ({ ...row, arms_snapshot: parseArmsSnapshot(row.arms_snapshot), context: contextOf(row.context) }));
}
