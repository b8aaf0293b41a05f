/**
 * Reading systems as a whole: the list of systems, a system's decision log across its users, what each arm has
 * earned across all users and over time (the dashboard's).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { contextView } from "../../../src/bandit/contextual.js";
import { TimestampSchema } from "../../../src/json.js";
import { pageLimitSchema } from "../../../src/page.js";
import {
  DecisionIdSchema,
  DecisionListSchema,
  SystemListSchema,
  SystemNameSchema,
  SystemSummarySchema,
  SystemTimelineSchema,
  TimelineQuerySchema,
  UserIdSchema,
} from "../../../src/runtime/schema.js";
import { summarizeArms } from "../../../src/runtime/summary.js";
import { listDecisions } from "../../db/decision-list";
import { armTallies, recentDecisions } from "../../db/decisions";
import { logDatabaseOf } from "../../db/log-database";
import { contextStatsFromRollups, populationWindowStart } from "../../db/population";
import { listRuns } from "../../db/runs";
import { listSystems } from "../../db/systems";
import { systemTimeline } from "../../db/timeline";
import { listingCursor } from "../cursor";
import { errorResponses, json } from "../errors";
import { routeGroup } from "./group";
import { requireSystem, SystemParams } from "./runtime";

const RECENT_DECISIONS = 20;

const systemsCursor = listingCursor("systems", z.tuple([TimestampSchema, SystemNameSchema]));
const decisionsCursor = listingCursor("decisions", z.tuple([TimestampSchema, DecisionIdSchema]));

const routes = {
  list: createRoute({
    method: "get",
    path: "/v1/systems",
    summary: "A page of the systems, most recently changed first",
    description:
      "Pass `next_cursor` back as `cursor` for the next page. The order is by last change: a system written while you page moves to the front, so this listing may not show it again (the next one does).",
    request: { query: z.object({ limit: pageLimitSchema(100), cursor: systemsCursor.query.optional() }) },
    responses: { 200: json(SystemListSchema, "Systems"), ...errorResponses },
  }),
  decisions: createRoute({
    method: "get",
    path: "/v1/systems/{system}/decisions",
    summary: "A page of the system's decision log, every user's (or one user's), newest first",
    description:
      "Decisions as they reach the log (from each user's arms object, within seconds). Pass `next_cursor` back as `cursor` for the next page: pages go on below the previous one, so decisions logged meanwhile appear in a new listing, never as a repeat or a gap in this one.",
    request: {
      params: SystemParams,
      query: z.object({
        limit: pageLimitSchema(100),
        cursor: decisionsCursor.query.optional(),
        user_id: UserIdSchema.optional().openapi({ description: "only this user's decisions" }),
      }),
    },
    responses: { 200: json(DecisionListSchema, "Decisions"), ...errorResponses },
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
  .openapi(routes.list, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const page = await listSystems(c.env.DB, { limit, after: cursor });
    return c.json({ systems: page.items, next_cursor: page.next && systemsCursor.encode(page.next) }, 200);
  })
  .openapi(routes.decisions, async (c) => {
    const system = await requireSystem(c.env, c.req.valid("param").system);
    const { limit, cursor, user_id } = c.req.valid("query");
    const page = await listDecisions(c.env, system, { limit, userId: user_id, after: cursor });
    return c.json({ decisions: page.items, next_cursor: page.next && decisionsCursor.encode(page.next) }, 200);
  })
  .openapi(routes.summary, async (c) => {
    const system = await requireSystem(c.env, c.req.valid("param").system);
    const features = system.config.context_features;
    const hasContext = Object.keys(features).length > 0;
    const agentType = system.config.agent_type ?? "default";
    const [tallies, recent, scheduled, cells] = await Promise.all([
      armTallies(logDatabaseOf(c.env, system), system.name),
      recentDecisions(logDatabaseOf(c.env, system), system.name, RECENT_DECISIONS),
      listRuns(c.env.DB, { limit: 20, system: system.name }),
      hasContext ? contextStatsFromRollups(logDatabaseOf(c.env, system), system.name, populationWindowStart(), { agentType }) : null,
    ]);
    const armIds = system.config.default_arms.map((a) => a.arm_id);
    const fromArms = system.config.default_arms.flatMap((a) => (a.source ? [a.source.run_id] : []));
    return c.json(
      {
        system: system.name,
        version: system.version,
        agent_type: agentType,
        updated_at: system.updated_at,
        arms: summarizeArms(system.config.default_arms, tallies),
        recent_decisions: recent,
        run_ids: [...new Set([...scheduled.items.map((r) => r.run_id), ...fromArms])],
        context: cells ? contextView(features, cells, system.context_model ?? null, agentType, armIds) : null,
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
