/** Reading systems as a whole: the list of systems, and what each arm has earned across all users (the dashboard's). */
import { createRoute } from "@hono/zod-openapi";
import { SystemListSchema, SystemSummarySchema, SystemTimelineSchema, TimelineQuerySchema } from "../../../src/runtime/schema.js";
import { summarizeArms } from "../../../src/runtime/summary.js";
import { armTallies, recentDecisions } from "../../db/decisions";
import { logDatabaseOf } from "../../db/log-database";
import { listRuns } from "../../db/runs";
import { listSystems } from "../../db/systems";
import { systemTimeline } from "../../db/timeline";
import { errorResponses, json } from "../errors";
import { routeGroup } from "./group";
import { requireSystem, SystemParams } from "./runtime";

const RECENT_DECISIONS = 20;

const routes = {
  list: createRoute({
    method: "get",
    path: "/v1/systems",
    summary: "Every system, most recently changed first",
    responses: { 200: json(SystemListSchema, "Systems"), ...errorResponses },
  }),
  summary: createRoute({
    method: "get",
    path: "/v1/systems/{system}/summary",
    summary:
      "Each arm across all users (posterior mean, 95% interval, probability of being best, pulls), recent decisions, and the runs its arms came from",
    request: { params: SystemParams },
    responses: { 200: json(SystemSummarySchema.openapi("SystemSummary"), "The summary"), ...errorResponses },
  }),
  timeline: createRoute({
    method: "get",
    path: "/v1/systems/{system}/timeline",
    summary:
      "Each arm's selections, rewarded selections and reward sum per UTC hour, for the last `hours` hours (default 168, at most 720) ending with the current one, from the rollups",
    request: { params: SystemParams, query: TimelineQuerySchema },
    responses: { 200: json(SystemTimelineSchema.openapi("SystemTimeline"), "The timeline"), ...errorResponses },
  }),
};

export const systemsApp = routeGroup()
  .openapi(routes.list, async (c) => c.json({ systems: await listSystems(c.env.DB) }, 200))
  .openapi(routes.summary, async (c) => {
    const system = await requireSystem(c.env, c.req.valid("param").system);
    const [tallies, recent, scheduled] = await Promise.all([
      armTallies(logDatabaseOf(c.env, system), system.name),
      recentDecisions(logDatabaseOf(c.env, system), system.name, RECENT_DECISIONS),
      listRuns(c.env.DB, 20, system.name),
    ]);
    const fromArms = system.config.default_arms.flatMap((a) => (a.source ? [a.source.run_id] : []));
    return c.json(
      {
        system: system.name,
        version: system.version,
        agent_type: system.config.agent_type ?? "default",
        updated_at: system.updated_at,
        arms: summarizeArms(system.config.default_arms, tallies),
        recent_decisions: recent,
        run_ids: [...new Set([...scheduled.map((r) => r.run_id), ...fromArms])],
      },
      200,
    );
  })
  .openapi(routes.timeline, async (c) => {
    const system = await requireSystem(c.env, c.req.valid("param").system);
    const { hours, agent_type } = c.req.valid("query");
    const timeline = await systemTimeline(logDatabaseOf(c.env, system), { name: system.name, arms: system.config.default_arms }, hours, {
      agentType: agent_type,
    });
    return c.json(timeline, 200);
  });
