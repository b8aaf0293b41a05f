/** The decision log in D1: one row per decision, its reward filled in when it arrives. Written in batches. */

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
