/**
 * Offline evaluation of a candidate policy against a system's decision log in D1 (src/bandit/offline.ts): what
 * it would have earned on the decisions the runtime made, without running it.
 */
import { createRoute } from "@hono/zod-openapi";
import {
  EvaluateRequestSchema,
  evaluatePolicy,
  featuresFor,
  InvalidPolicyError,
  PolicyEvaluationSchema,
} from "../../../src/bandit/offline.js";
import { joinPath } from "../../../src/config/issues.js";
import { isPlainObject, type JsonValue } from "../../../src/json.js";
import { archivedRewarded } from "../../db/archive";
import { parseArmsSnapshot, type RewardedDecision, rewardedDecisions } from "../../db/decisions";
import { logDatabaseOf } from "../../db/log-database";
import { errorResponses, invalidRequest } from "../errors";
import { routeGroup } from "./group";
import { requireSystem, SystemParams } from "./runtime";

const evaluate = createRoute({
  method: "post",
  path: "/v1/systems/{system}/evaluate",
  summary: "Estimate a policy's mean reward from the system's logged decisions (off-policy: IPS, SNIPS and doubly robust, 95% intervals)",
  description:
    "Reads the newest `limit` rewarded decisions (each logged with the probability of its arm, the arms' posteriors and the request's context) and weighs each reward by pi(arm) / logged probability. `static` plays fixed shares, `greedy` the arm of highest posterior mean, `thompson` the runtime's rule with the given settings, `rule` the arm of the first rule matching the context (else `otherwise`), `contextual` Thompson sampling over a context model fitted from these decisions (on the policy's context_features, else the system's; a 400 when there are none). The doubly robust estimate (`dr`) adds an outcome model of each arm's reward on the system's context_features, cross-fitted over two halves of the decisions: unbiased like IPS, usually with a narrower interval.",
  request: {
    params: SystemParams,
    body: { required: true, content: { "application/json": { schema: EvaluateRequestSchema.openapi("EvaluateRequest") } } },
  },
  responses: {
    200: {
      description: "The estimates, how many decisions they rest on, and which were skipped and why",
      content: { "application/json": { schema: PolicyEvaluationSchema.openapi("PolicyEvaluation") } },
    },
    ...errorResponses,
  },
});

export const evaluateApp = routeGroup().openapi(evaluate, async (c) => {
  const system = await requireSystem(c.env, c.req.valid("param").system);
  const { policy, limit, agent_type } = c.req.valid("json");
  const options = { context_features: system.config.context_features };
  try {
    // Before any read: what the policy lacks only the system's config shows (a contextual policy without
    // features), and it is the request's fault, answered in the validator's format.
    featuresFor(policy, options);
  } catch (error) {
    if (!(error instanceof InvalidPolicyError)) throw error;
    throw invalidRequest(error.issues.map((issue) => ({ path: joinPath("policy", issue.path), message: issue.message })));
  }
  const db = logDatabaseOf(c.env, system);
  const recent = await rewardedDecisions(db, system.name, { limit, agentType: agent_type });
  let decisions: RewardedDecision[] = recent;
  const warnings: string[] = [];
  // D1 holds the newest decisions; past retention they are in the archive, read only when D1 has too few.
  if (recent.length < limit) {
    const archived = await archivedRewarded(c.env, db, system.name, {
      limit: limit - recent.length,
      agentType: agent_type,
      exclude: new Set(recent.map((d) => d.decision_id)),
    });
    const older = archived.decisions.map((line) => ({
      decision_id: line.decision_id,
      arm_id: line.arm_id,
      reward: line.reward,
      selection_probability: line.selection_probability,
      created_at: line.created_at,
      arms_snapshot: parseArmsSnapshot(line.arms_snapshot === null ? null : JSON.stringify(line.arms_snapshot)),
      agent_type: line.agent_type,
      context: isPlainObject(line.context) ? (line.context as Record<string, JsonValue>) : null,
    }));
    decisions = [...recent, ...older]
      .sort((a, b) => (a.created_at === b.created_at ? b.decision_id.localeCompare(a.decision_id) : a.created_at < b.created_at ? 1 : -1))
      .slice(0, limit);
    if (archived.truncated) warnings.push("the archive read stopped at its bound: older archived decisions were not read");
  }
  const estimate = evaluatePolicy(decisions, policy, options);
  const newest = decisions[0];
  const oldest = decisions[decisions.length - 1];
  return c.json(
    {
      system: system.name,
      agent_type: agent_type ?? null,
      window: newest && oldest ? { oldest: oldest.created_at, newest: newest.created_at } : null,
      ...estimate,
      warnings: [...estimate.warnings, ...warnings],
    },
    200,
  );
});
