/**
 * A system's decision log as the API lists it: pages of decisions, newest first, read from the system's log
 * database. Keyset on (created_at, decision_id): a page goes on strictly below the last one's position, so decisions
 * logged meanwhile (newer than the first page) never shift a later page into a gap or a repeat.
 */
import type { ListedDecision } from "../../src/runtime/schema.js";
import type { Env } from "../env";
import { logDatabaseOf } from "./log-database";
import { type Page, pageOf } from "./page";
import type { SystemSnapshot } from "./systems";

/** Where the list of decisions goes on from: the last decision's (created_at, decision_id). */
export type DecisionPosition = [createdAt: string, decisionId: string];

type Row = Omit<ListedDecision, "params" | "context"> & { params: string; context: string };

export async function listDecisions(
  env: Env,
  { name: system, log_database }: Pick<SystemSnapshot, "name" | "log_database">,
  { limit, userId, after }: { limit: number; userId?: string | undefined; after?: DecisionPosition | undefined },
): Promise<Page<ListedDecision, DecisionPosition>> {
  const where = ["system = ?"];
  const args: unknown[] = [system];
  if (userId !== undefined) {
    where.push("user_id = ?");
    args.push(userId);
  }
  if (after) {
    where.push("(created_at, decision_id) < (?, ?)");
    args.push(...after);
  }
  const { results } = await logDatabaseOf(env, { log_database })
    .prepare(
      `SELECT decision_id, user_id, agent_type, arm_id, params, selection_probability, context, created_at, reward, reward_source,
         rewarded_at
       FROM decisions WHERE ${where.join(" AND ")} ORDER BY created_at DESC, decision_id DESC LIMIT ?`,
    )
    .bind(...args, limit + 1)
    .all<Row>();
  const decisions = results.map((row) => ({ ...row, params: JSON.parse(row.params), context: JSON.parse(row.context) }));
  return pageOf(decisions, limit, (d): DecisionPosition => [d.created_at, d.decision_id]);
}
