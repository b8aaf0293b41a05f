/**
 * The runtime routes of DESIGN.md: systems, select, update, decisions and arms. Each is declared with the zod
 * schemas of src/runtime/schema.ts, which validate the request and describe the API.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ownerTag, parseDecisionId } from "../../../src/runtime/decision-id.js";
import {
  AgentTypeSchema,
  ArmListSchema,
  DecisionIdSchema,
  DecisionSchema,
  NO_REWARD_EVALUATOR,
  RuntimeConfigSchema,
  SelectionSchema,
  SelectRequestSchema,
  SystemNameSchema,
  type SystemRecord,
  SystemRecordSchema,
  UpdateRequestSchema,
  type UpdateResult,
  UpdateResultSchema,
} from "../../../src/runtime/schema.js";
import { chooseLogDatabase } from "../../db/log-database";
import { getSystem, putSystem, type SystemSnapshot } from "../../db/systems";
import type { Env } from "../../env";
import type { ArmsObject } from "../../objects/arms-object";
import { checkRunConfig } from "../../runs/start";
import { ApiError, errorResponses, json } from "../errors";
import { jsonText, routeGroup } from "./group";
import { runConfigRefusal } from "./runs";

const SystemName = SystemNameSchema.openapi({ param: { name: "system", in: "path" }, example: "context_enrichment" });

/** The `{system}` path parameter of every system route. */
export const SystemParams = z.object({ system: SystemName });
const body = <T extends z.ZodType>(schema: T) => ({ required: true, content: { "application/json": { schema } } });

const SystemSchema = SystemRecordSchema.openapi("System");

const routes = {
  putSystem: createRoute({
    method: "put",
    path: "/v1/systems/{system}",
    summary: "Create or replace a system's runtime config",
    request: { params: SystemParams, body: body(RuntimeConfigSchema) },
    responses: { 200: json(SystemSchema, "The stored config, with its version"), ...errorResponses },
  }),
  getSystem: createRoute({
    method: "get",
    path: "/v1/systems/{system}",
    summary: "Read a system's runtime config",
    request: { params: SystemParams },
    responses: { 200: json(SystemSchema, "The config"), ...errorResponses },
  }),
  select: createRoute({
    method: "post",
    path: "/v1/systems/{system}/select",
    summary: "Choose the arm (parameter set) to use for this user now",
    request: { params: SystemParams, body: body(SelectRequestSchema) },
    responses: { 200: json(SelectionSchema, "The chosen arm and the decision to reward later"), ...errorResponses },
  }),
  update: createRoute({
    method: "post",
    path: "/v1/systems/{system}/update",
    summary: "Report the reward of a decision (at most once)",
    request: { params: SystemParams, body: body(UpdateRequestSchema) },
    responses: {
      200: json(UpdateResultSchema, "The update applied, or duplicate: true"),
      ...errorResponses,
    },
  }),
  decision: createRoute({
    method: "get",
    path: "/v1/systems/{system}/decisions/{decision_id}",
    summary: "Read one decision",
    request: {
      params: SystemParams.extend({
        decision_id: DecisionIdSchema.openapi({ param: { name: "decision_id", in: "path" } }),
      }),
      query: z.object({ user_id: z.string().min(1).max(256) }),
    },
    responses: { 200: json(DecisionSchema, "The decision"), ...errorResponses },
  }),
  arms: createRoute({
    method: "get",
    path: "/v1/systems/{system}/arms",
    summary: "A user's arms: posterior, 95% interval, probability of being best",
    request: {
      params: SystemParams,
      query: z.object({ user_id: z.string().min(1).max(256), agent_type: AgentTypeSchema.optional() }),
    },
    responses: { 200: json(ArmListSchema, "The arms"), ...errorResponses },
  }),
};

export async function requireSystem(env: Env, name: string): Promise<SystemSnapshot> {
  const system = await getSystem(env.DB, name);
  if (!system) throw new ApiError(404, "unknown_system", `no system named '${name}': create it with PUT /v1/systems/${name}`);
  return system;
}

/** The RPC surface of ArmsObject, named plainly: the generated stub types of recursive JSON are too deep for tsc. */
type ArmsRpc = Pick<ArmsObject, "select" | "update" | "getDecision" | "arms">;

/** The Durable Object of one (system, agent type, user). */
const armsOf = (env: Env, system: string, agentType: string, userId: string): ArmsRpc =>
  env.ARMS.getByName(JSON.stringify([system, agentType, userId])) as unknown as ArmsRpc;

/** A system as the API answers it. */
const recordOf = (system: SystemSnapshot): SystemRecord => ({
  system: system.name,
  version: system.version,
  updated_at: system.updated_at,
  config: system.config,
});

/** The system without its config: objects that already have this version need nothing more. */
const refOf = (system: SystemSnapshot) => ({ name: system.name, version: system.version });

/** Where a decision lives, from its id; refuses ids of another user before any lookup. */
function decisionHome(system: SystemSnapshot, decisionId: string, userId: string, agentType?: string): string {
  const parsed = parseDecisionId(decisionId);
  if (!parsed) throw new ApiError(404, "unknown_decision", `no decision '${decisionId}'`);
  if (agentType !== undefined && agentType !== parsed.agentType) {
    throw new ApiError(
      400,
      "agent_type_mismatch",
      `decision '${decisionId}' was made for agent type '${parsed.agentType}', not '${agentType}'`,
    );
  }
  if (parsed.tag !== ownerTag(system.name, parsed.agentType, userId)) {
    throw new ApiError(403, "decision_of_another_user", `decision '${decisionId}' is not a decision of user '${userId}'`);
  }
  return parsed.agentType;
}

export const runtimeApp = routeGroup()
  .openapi(routes.putSystem, async (c) => {
    const { system } = c.req.valid("param");
    const config = c.req.valid("json");
    // A schedule's config is checked now, as a run started from this request would be, not first at cron time.
    const host = new URL(c.req.url).host;
    if (config.reoptimize) {
      const checked = await checkRunConfig(c.env, config.reoptimize.config, [host]);
      if (!checked.ok) throw runConfigRefusal(checked.errors, "reoptimize.config");
    }
    const snapshot = await putSystem(c.env.DB, system, config, { writtenHost: host, logDatabase: chooseLogDatabase(c.env, system) });
    return c.json(recordOf(snapshot), 200);
  })
  .openapi(routes.getSystem, async (c) => c.json(recordOf(await requireSystem(c.env, c.req.valid("param").system)), 200))
  .openapi(routes.select, async (c) => {
    const system = await requireSystem(c.env, c.req.valid("param").system);
    const request = c.req.valid("json");
    const agentType = request.agent_type ?? system.config.agent_type ?? "default";
    const stub = armsOf(c.env, system.name, agentType, request.user_id);
    const args = { ...request, agent_type: agentType };
    const text = (await stub.select(refOf(system), args)) ?? (await stub.select(system, args));
    // Given the config, an object always answers.
    if (text === null) throw new Error(`arms object of ${system.name} did not take version ${system.version}`);
    return jsonText(c, text, 200);
  })
  .openapi(routes.update, async (c) => {
    const system = await requireSystem(c.env, c.req.valid("param").system);
    const request = c.req.valid("json");
    if (request.signals && Object.keys(request.signals).length > 0 && !system.config.reward_evaluator) {
      throw new ApiError(400, "invalid_request", `signals: ${NO_REWARD_EVALUATOR}`, [{ path: "signals", message: NO_REWARD_EVALUATOR }]);
    }
    const agentType = decisionHome(system, request.decision_id, request.user_id, request.agent_type);
    const stub = armsOf(c.env, system.name, agentType, request.user_id);
    const args = { ...request, agent_type: agentType };
    const result = ((await stub.update(refOf(system), args)) ?? (await stub.update(system, args))) as UpdateResult;
    if (result.code === "decision_not_found") throw new ApiError(404, "unknown_decision", result.error ?? "unknown decision");
    if (result.code === "decision_of_another_user")
      throw new ApiError(403, "decision_of_another_user", result.error ?? "decision of another user");
    if (result.code === "invalid_score") throw new ApiError(400, "invalid_request", result.error ?? "invalid score");
    if (result.code === "no_reward_evaluator") throw new ApiError(400, "invalid_request", `signals: ${NO_REWARD_EVALUATOR}`);
    return c.json(result, 200);
  })
  .openapi(routes.decision, async (c) => {
    const { system: name, decision_id } = c.req.valid("param");
    const { user_id } = c.req.valid("query");
    const system = await requireSystem(c.env, name);
    const agentType = decisionHome(system, decision_id, user_id);
    const decision = await armsOf(c.env, system.name, agentType, user_id).getDecision(user_id, decision_id);
    if (!decision) throw new ApiError(404, "unknown_decision", `no decision '${decision_id}'`);
    return c.json(decision, 200);
  })
  .openapi(routes.arms, async (c) => {
    const system = await requireSystem(c.env, c.req.valid("param").system);
    const { user_id, agent_type } = c.req.valid("query");
    const agentType = agent_type ?? system.config.agent_type ?? "default";
    const arms = await armsOf(c.env, system.name, agentType, user_id).arms(system, agentType, user_id);
    return c.json({ arms }, 200);
  });
