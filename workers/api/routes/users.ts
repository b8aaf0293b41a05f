/**
 * Forgetting a user (issue 14, part 7): DELETE /v1/systems/{system}/users/{user_id} removes what the service holds
 * of one user of a system, for every agent type: their ArmsObjects, their rows waiting in the log shard, their
 * decisions in D1, and (by a tombstone) their lines in the archive. Admin only: it is not in auth.ts's runtime table.
 */
import { createRoute } from "@hono/zod-openapi";
import { type ForgetResult, ForgetResultSchema, UserIdSchema } from "../../../src/runtime/schema.js";
import { deleteUserDecisions, loggedAgentTypes, tombstoneUser } from "../../db/forget";
import { DEFAULT_LOG_DATABASE, logDatabaseOf } from "../../db/log-database";
import type { Env } from "../../env";
import type { ArmsObject } from "../../objects/arms-object";
import type { DecisionLogShard } from "../../objects/decision-log-shard";
import { logShardName } from "../../objects/log-shards";
import { errorResponses, json } from "../errors";
import { routeGroup } from "./group";
import { requireSystem, SystemParams } from "./runtime";

const routes = {
  forget: createRoute({
    method: "delete",
    path: "/v1/systems/{system}/users/{user_id}",
    summary: "Forget a user: their arms and decisions, for every agent type (rollup totals are kept)",
    request: {
      params: SystemParams.extend({
        user_id: UserIdSchema.openapi({ param: { name: "user_id", in: "path" }, example: "user_123" }),
      }),
    },
    responses: {
      200: json(ForgetResultSchema.openapi("ForgetResult"), "What was removed (all zeros when nothing was left)"),
      ...errorResponses,
    },
  }),
};

/** The RPC surfaces used here, named plainly (the generated stub types of recursive JSON are too deep for tsc). */
type ArmsForget = Pick<ArmsObject, "forget">;
type ShardForget = Pick<DecisionLogShard, "forget">;

async function forgetUser(env: Env, systemName: string, userId: string): Promise<ForgetResult> {
  const system = await requireSystem(env, systemName);
  const db = logDatabaseOf(env, system);
  // First: from here on nothing of theirs made until now can be written to the log again (see tombstoneUser), so
  // a flush in flight from an object or a shard cannot put back what the steps below remove.
  await tombstoneUser(db, system.name, userId, new Date().toISOString());
  // The shard before the objects: its waiting rows name agent types the log has not seen yet.
  const shard = env.LOG_SHARDS.getByName(
    logShardName(system.log_database ?? DEFAULT_LOG_DATABASE, system.name, userId),
  ) as unknown as ShardForget;
  const waiting = await shard.forget(userId);
  // Every agent type the user may have an object of: those the system has logged (rollups name them without
  // naming users), those of the rows just dropped, the configured one and "default".
  const agentTypes = [
    ...new Set([...(await loggedAgentTypes(db, system.name)), ...waiting.agentTypes, system.config.agent_type ?? "default", "default"]),
  ].sort();
  const found = await Promise.all(
    agentTypes.map((agentType) => (env.ARMS.getByName(JSON.stringify([system.name, agentType, userId])) as unknown as ArmsForget).forget()),
  );
  const held = found.filter((h) => h !== null);
  // Again, now that the objects are empty: a select that ran between the first tombstone and the objects' forget
  // made a decision newer than it, which must not reach the log either.
  await tombstoneUser(db, system.name, userId, new Date().toISOString());
  // Last: anything that reached D1 before the tombstone, whichever step it came through.
  const decisionsInLog = await deleteUserDecisions(db, system.name, userId);
  return {
    system: system.name,
    user_id: userId,
    agent_types: agentTypes,
    arms_objects: held.length,
    arms_in_object: held.reduce((sum, h) => sum + h.arms, 0),
    decisions_in_object: held.reduce((sum, h) => sum + h.decisions, 0),
    pending_in_log: waiting.removed,
    decisions_in_log: decisionsInLog,
    archive: "tombstoned",
  };
}

export const usersApp = routeGroup().openapi(routes.forget, async (c) => {
  const { system, user_id } = c.req.valid("param");
  return c.json(await forgetUser(c.env, system, user_id), 200);
});
