/**
 * The optimization-run routes of DESIGN.md: start (a JSON or YAML config), list, read, its evaluations, cancel,
 * promote.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type ConfigIssue, describeIssues } from "../../../src/config/issues.js";
import { parseConfigText } from "../../../src/config/parse.js";
import { ConfigSchema } from "../../../src/config/schema.js";
import { TimestampSchema } from "../../../src/json.js";
import { pageLimitSchema } from "../../../src/page.js";
import { isPolicyIssue } from "../../../src/run/prepare.js";
import {
  CandidateListSchema,
  type ConfigCheck,
  ConfigCheckSchema,
  EvaluationPageSchema,
  PromoteRequestSchema,
  PromoteResultSchema,
  RunIdSchema,
  RunListSchema,
  RunViewSchema,
} from "../../../src/run/schema.js";
import { SystemNameSchema } from "../../../src/runtime/schema.js";
import { preferencesJsonl } from "../../../src/society/preferences.js";
import { PromoteError, promote } from "../../db/promote";
import { getRunRow, listEvaluations, listRuns, viewOfRow } from "../../db/runs";
import type { Env } from "../../env";
import { checkRunConfig, MAX_RUN_CALLS, runOf, startRun } from "../../runs/start";
import { listingCursor } from "../cursor";
import { ApiError, errorResponses, json, validRequestPart } from "../errors";
import { MAX_BODY_BYTES } from "../limits";
import { routeGroup } from "./group";

const RunId = RunIdSchema.openapi({ param: { name: "run_id", in: "path" } });
const Run = RunViewSchema.openapi("Run");
const runsCursor = listingCursor("runs", z.tuple([TimestampSchema, RunIdSchema]));

const routes = {
  list: createRoute({
    method: "get",
    path: "/v1/runs",
    summary: "A page of the runs (of one system, when given), newest first",
    description:
      "`system`: the runs scheduled for that system (its `reoptimize`) and the runs promoted into it, each once. Pass `next_cursor` back as `cursor` for the next page.",
    request: {
      query: z.object({ limit: pageLimitSchema(50), cursor: runsCursor.query.optional(), system: SystemNameSchema.optional() }),
    },
    responses: { 200: json(RunListSchema, "Runs"), ...errorResponses },
  }),
  get: createRoute({
    method: "get",
    path: "/v1/runs/{run_id}",
    summary: "A run: status, progress, per-generation history, and when finished the seed's response object",
    request: { params: z.object({ run_id: RunId }) },
    responses: { 200: json(Run, "The run"), ...errorResponses },
  }),
  evaluations: createRoute({
    method: "get",
    path: "/v1/runs/{run_id}/evaluations",
    summary: "A page of the run's (candidate, test case) evaluations, each once, in the order they finished",
    request: {
      params: z.object({ run_id: RunId }),
      query: z.object({
        limit: z.coerce.number().int().min(1).max(1000).default(200),
        offset: z.coerce.number().int().min(0).default(0),
        /** Only this candidate's (its hash, as `candidate` in the evaluations and candidates). */
        candidate: z
          .string()
          .regex(/^[0-9a-f]{1,64}$/, "a candidate hash")
          .optional(),
      }),
    },
    responses: { 200: json(EvaluationPageSchema, "Evaluations"), ...errorResponses },
  }),
  candidates: createRoute({
    method: "get",
    path: "/v1/runs/{run_id}/candidates",
    summary: "Every candidate config scored so far, with its score (live while the run goes)",
    request: { params: z.object({ run_id: RunId }) },
    responses: { 200: json(CandidateListSchema, "Candidates"), ...errorResponses },
  }),
  cancel: createRoute({
    method: "post",
    path: "/v1/runs/{run_id}/cancel",
    summary: "Stop a run: nothing more is called",
    request: { params: z.object({ run_id: RunId }) },
    responses: { 200: json(Run, "The cancelled run"), ...errorResponses },
  }),
  promote: createRoute({
    method: "post",
    path: "/v1/runs/{run_id}/promote",
    summary: "Add a finished run's best configs as arms of a system",
    request: {
      params: z.object({ run_id: RunId }),
      body: {
        required: true,
        content: {
          "application/json": { schema: PromoteRequestSchema },
        },
      },
    },
    responses: {
      200: json(PromoteResultSchema, "The arms added"),
      ...errorResponses,
    },
  }),
};

/** A run config's problems as the API answers them (`prefix`: where the config sits in the request). */
export function runConfigRefusal(errors: readonly ConfigIssue[], prefix = ""): ApiError {
  const details = errors.map((e) => ({ ...e, path: prefix && e.path ? `${prefix}.${e.path}` : e.path || prefix }));
  return new ApiError(
    400,
    // A valid config that this deployment's policy refuses: the operator can allow it (the messages say how).
    errors.every(isPolicyIssue) ? "not_allowed_for_runs" : "invalid_config",
    describeIssues(details),
    details,
  );
}

async function requireRun(env: Env, runId: string) {
  const row = await getRunRow(env.DB, runId);
  if (!row) throw new ApiError(404, "unknown_run", `no run '${runId}'`);
  return row;
}

const group = routeGroup();
const configBody = {
  required: true,
  content: {
    "application/json": { schema: ConfigSchema.openapi("RunConfig") },
    "application/yaml": { schema: z.string().openapi({ description: "the config, as YAML" }) },
  },
};
// Declared by hand below (the body is JSON or YAML, parsed within the 1 MiB bound and checked as a whole), and
// described here from the config's schema.
group.openAPIRegistry.registerPath({
  method: "post",
  path: "/v1/runs",
  summary: "Start an optimization run",
  description:
    "The body is an optimization config (the SDK's format: api, search_space, evaluation, optimization) as JSON or as YAML. Test cases must be inline. Answers 202 with the run; 400 with every problem of the config, and nothing started.",
  request: {
    query: z.object({
      seed: z
        .string()
        .regex(/^-?\d+$/)
        .optional()
        .openapi({ description: "overrides optimization.seed" }),
    }),
    body: configBody,
  },
  responses: { 202: json(Run, "The run, started"), ...errorResponses },
});
group.openAPIRegistry.registerPath({
  method: "post",
  path: "/v1/validate",
  summary: "Check a config as starting it would, without starting it",
  description:
    "Every check of POST /v1/runs on this deployment (the config, its run policy, bundled evaluators, the call and state bounds), nothing called or recorded. Answers 200 with `valid`, the errors that would refuse it and the warnings a run would print; 400 only when the body cannot be read.",
  request: { body: configBody },
  responses: { 200: json(ConfigCheckSchema.openapi("ConfigCheck"), "What starting it would find"), ...errorResponses },
});

/**
 * The furthest a page of preference pairs may start: the most pairs a run can hold, each two distinct answers to a
 * test case, so two of the run's evaluations (a target call each).
 */
const MAX_PREFERENCES_OFFSET = MAX_RUN_CALLS / 2;

/** What GET /v1/runs/{run_id}/preferences reads: a page of pairs, each up to two answers of 4,000 characters. */
const preferencesRequest = {
  params: z.object({ run_id: RunId }),
  query: z.object({
    limit: pageLimitSchema(200),
    offset: z.coerce
      .number()
      .int()
      .min(0)
      .max(MAX_PREFERENCES_OFFSET)
      .default(0)
      .describe(`pairs to skip, 0 to ${MAX_PREFERENCES_OFFSET} (default 0): the \`x-next-offset\` of the page before`),
  }),
};

// Declared by hand, its request read below with the same schemas: a createRoute handler's answer must be of a type
// its responses give, and zod-openapi gives none to application/x-ndjson (it reads the type as JSON's).
group.openAPIRegistry.registerPath({
  method: "get",
  path: "/v1/runs/{run_id}/preferences",
  summary: "SAO's preference pairs from the run's answers so far, one JSON object a line (TRL's prompt, chosen, rejected)",
  description: `For each test case, pairs of answers whose scores differ by at least society.learning.preference_margin, with their scores and configs: \`limit\` of them from \`offset\` (at most ${MAX_PREFERENCES_OFFSET.toLocaleString("en-US")}, the most pairs a run of ${MAX_RUN_CALLS.toLocaleString("en-US")} calls can hold; past it, 400). 409 when the run does not collect them (society.learning.sao_enabled).`,
  request: preferencesRequest,
  responses: {
    200: {
      description: "A page of the pairs, as NDJSON; `x-total-count` says how many there are, `x-next-offset` where the next page starts",
      content: { "application/x-ndjson": { schema: z.string().openapi({ description: "one PreferencePair a line" }) } },
    },
    ...errorResponses,
  },
});

/** The config of a POST: JSON or YAML by content type, within the body bound. */
async function configOfBody(c: Context<{ Bindings: Env }>): Promise<unknown> {
  const type = c.req.header("content-type") ?? "";
  const yaml = /yaml/i.test(type);
  // Refused before its body is read: a type this route does not read is not worth up to 1 MiB.
  if (!yaml && !/json/i.test(type)) {
    throw new ApiError(415, "unsupported_media_type", "send the config as application/json or application/yaml");
  }
  // Decoded by hand: workerd warns on .text() of a body whose type (application/yaml) it does not know as text.
  const text = new TextDecoder().decode(await c.req.arrayBuffer());
  const parsed = parseConfigText(text, yaml ? "yaml" : "json", "the request body", { maxBytes: MAX_BODY_BYTES.runs });
  if (parsed.errors.length > 0)
    throw new ApiError(400, yaml ? "malformed_yaml" : "malformed_json", parsed.errors[0]?.message ?? "unreadable body");
  return parsed.value;
}

// The host a request reached is the service's own: a run's calls may not come back to it.
const ownHostsOf = (c: Context) => [new URL(c.req.url).host];

export const runsApp = group
  .openapi(routes.list, async (c) => {
    const { limit, cursor, system } = c.req.valid("query");
    const page = await listRuns(c.env.DB, { limit, system, after: cursor });
    const runs = page.items.map((row) => ({ ...row, best_config: row.best_config ? JSON.parse(row.best_config) : null }));
    return c.json({ runs, next_cursor: page.next && runsCursor.encode(page.next) }, 200);
  })
  .openapi(routes.get, async (c) => {
    const { run_id } = c.req.valid("param");
    const row = await requireRun(c.env, run_id);
    return c.json((await runOf(c.env, run_id).view()) ?? viewOfRow(row), 200);
  })
  .openapi(routes.evaluations, async (c) => {
    const { run_id } = c.req.valid("param");
    await requireRun(c.env, run_id);
    return c.json({ evaluations: await listEvaluations(c.env.DB, run_id, c.req.valid("query")) }, 200);
  })
  .openapi(routes.candidates, async (c) => {
    const { run_id } = c.req.valid("param");
    await requireRun(c.env, run_id);
    return c.json({ candidates: await runOf(c.env, run_id).candidates() }, 200);
  })
  .openapi(routes.cancel, async (c) => {
    const { run_id } = c.req.valid("param");
    const row = await requireRun(c.env, run_id);
    return c.json((await runOf(c.env, run_id).cancel()) ?? viewOfRow(row), 200);
  })
  .openapi(routes.promote, async (c) => {
    const { run_id } = c.req.valid("param");
    const row = await requireRun(c.env, run_id);
    if (row.status !== "succeeded")
      throw new ApiError(409, "run_not_succeeded", `run '${run_id}' is ${row.status}: only a succeeded run can be promoted`);
    const request = c.req.valid("json");
    const { results } = await c.env.DB.prepare("SELECT params, score, complete FROM candidates WHERE run_id = ?")
      .bind(run_id)
      .all<{ params: string; score: number; complete: number }>();
    const candidates = results.map((r) => ({ params: JSON.parse(r.params), score: r.score, complete: r.complete === 1 }));
    let promoted: Awaited<ReturnType<typeof promote>>;
    try {
      promoted = await promote(c.env, request, run_id, candidates);
    } catch (error) {
      if (error instanceof PromoteError) throw new ApiError(409, "promotion_refused", error.message);
      throw error;
    }
    return c.json({ system: promoted.system.name, version: promoted.system.version, added: promoted.added }, 200);
  })
  .get("/v1/runs/:run_id/preferences", async (c) => {
    const { run_id } = validRequestPart(preferencesRequest.params, c.req.param(), "param");
    const query = validRequestPart(preferencesRequest.query, c.req.query(), "query");
    await requireRun(c.env, run_id);
    const page = await runOf(c.env, run_id).preferences(query);
    if (page === null) {
      throw new ApiError(
        409,
        "no_preferences",
        `run '${run_id}' does not collect preference pairs: set society.learning.sao_enabled in its config`,
      );
    }
    const next = query.offset + page.pairs.length;
    return c.body(preferencesJsonl(page.pairs), 200, {
      "content-type": "application/x-ndjson",
      "x-total-count": String(page.total),
      ...(next < page.total ? { "x-next-offset": String(next) } : {}),
    });
  })
  .post("/v1/validate", async (c) => {
    const checked = await checkRunConfig(c.env, await configOfBody(c), ownHostsOf(c));
    const answer: ConfigCheck = checked.ok
      ? { valid: true, errors: [], warnings: checked.run.warnings }
      : { valid: false, errors: checked.errors, warnings: checked.warnings };
    return c.json(answer, 200);
  })
  .post("/v1/runs", async (c) => {
    const config = await configOfBody(c);
    const seedText = c.req.query("seed");
    const seed = seedText === undefined ? undefined : Number(seedText);
    if (seed !== undefined && !Number.isSafeInteger(seed))
      throw new ApiError(400, "invalid_request", `seed must be an integer, got '${seedText}'`);
    const ownHosts = ownHostsOf(c);
    const started = await startRun(c.env, config, seed === undefined ? { ownHosts } : { seed, ownHosts });
    if (!started.ok) throw runConfigRefusal(started.errors);
    return c.json(started.view, 202);
  });
