/**
 * Forgetting a user in a system's log database (DELETE /v1/systems/{system}/users/{user_id}): the tombstone, then
 * the user's decisions in bounded batches. Rollups are left as they are: they hold no user ids, and the system's
 * totals must not move when one user leaves.
 */

/** Rows per DELETE: each statement stays short, so the database keeps serving the log's writes in between. */
const DELETE_BATCH = 500;

/** The agent types a system has logged, from its rollups (which hold no personal data), never from raw decisions. */
export async function loggedAgentTypes(db: D1Database, system: string): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT DISTINCT agent_type FROM decision_rollups WHERE system = ? ORDER BY agent_type")
    .bind(system)
    .all<{ agent_type: string }>();
  return results.map((r) => r.agent_type);
}

/**
 * Mark the user forgotten as of `at` (ISO 8601). Written before anything is deleted: from then on the log's upsert
 * (workers/db/decisions.ts) refuses every decision of theirs made up to `at`, so a row still on its way (in an
 * object's alarm, a shard, a retry) cannot put back what is deleted next, and archive reads drop their lines.
 * A second forgetting moves the mark on, which covers everything the first did and what came since.
 */
export async function tombstoneUser(db: D1Database, system: string, userId: string, at: string): Promise<void> {
  await db
    .prepare("INSERT OR REPLACE INTO forgotten_users (system, user_id, forgotten_at) VALUES (?, ?, ?)")
    .bind(system, userId, at)
    .run();
}

/** Delete the user's decisions (all agent types), DELETE_BATCH rows per statement; how many there were. */
export async function deleteUserDecisions(db: D1Database, system: string, userId: string): Promise<number> {
  let deleted = 0;
  for (;;) {
    // decisions_by_system_user_time (migration 0009) finds the rows; the rollup triggers fire on insert and reward only.
    const result = await db
      .prepare(
        `DELETE FROM decisions WHERE rowid IN (
           SELECT rowid FROM decisions WHERE system = ? AND user_id = ? LIMIT ?)`,
      )
      .bind(system, userId, DELETE_BATCH)
      .run();
    const changes = result.meta.changes ?? 0;
    deleted += changes;
    if (changes < DELETE_BATCH) return deleted;
  }
}
