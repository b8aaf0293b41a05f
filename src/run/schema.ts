/**
 * Optimization runs on the service, as the HTTP API shows them: one zod definition each, the type of the SDK
 * client and the worker alike, and the API description.
 */
import { z } from "zod";
import { JsonSchema, TimestampSchema } from "../json.js";
import { AgentTypeSchema, PromoteTopKSchema, SystemNameSchema } from "../runtime/schema.js";
import type { OptimizationResult } from "../sdk/response.js";

export const RunStatusSchema = z.enum(["queued", "running", "succeeded", "failed", "cancelled"]);
export type RunStatus = z.infer<typeof RunStatusSchema>;

export const RunIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,120}$/, "not a run id");

/** One generation of a run's history (src/optimize/study.ts GenerationSummary). */
const GenerationSummarySchema = z.object({
  generation: z.int(),
  best: z.number().nullable(),
  generation_best: z.number().nullable(),
  mean: z.number().nullable(),
  calls: z.int(),
  candidates: z.int(),
  complete: z.int(),
  dropped: z.int(),
});

export const RunViewSchema = z.object({
  run_id: z.string(),
  status: RunStatusSchema,
  api_name: z.string(),
  algorithm: z.string(),
  seed: z.int(),
  /** The system a scheduled run re-optimizes (null for runs started through the API). */
  system: z.string().nullable(),
  created_at: TimestampSchema,
  progress: z.object({
    /** 1-based, as progress bars count. */
    generation: z.int(),
    generations: z.int(),
    population_size: z.int(),
    test_cases: z.int(),
    /** The most target calls the run can make. */
    max_calls: z.int(),
    target_calls: z.int(),
    in_flight: z.int(),
    best_score: z.number().nullable(),
  }),
  history: z.array(GenerationSummarySchema),
  /** Target calls over time: one point per finished round, in ms since the run started. */
  timeline: z.array(z.object({ elapsed_ms: z.number(), target_calls: z.int() })),
  /** The seed's response object, once the run has finished. */
  result: z.looseObject({ success: z.boolean() }).nullable(),
});
export type RunView = Omit<z.infer<typeof RunViewSchema>, "result"> & { result: OptimizationResult | null };

export const RunSummarySchema = z.looseObject({
  run_id: z.string(),
  api_name: z.string(),
  status: RunStatusSchema,
  algorithm: z.string(),
  seed: z.int(),
  trigger: z.enum(["api", "schedule"]),
  system: z.string().nullable(),
  created_at: TimestampSchema,
  finished_at: TimestampSchema.nullable(),
  best_score: z.number().nullable(),
  best_config: z.record(z.string(), JsonSchema).nullable(),
  target_calls: z.int(),
  generations_run: z.int(),
  error: z.string().nullable(),
});
export type RunSummary = z.infer<typeof RunSummarySchema>;

export const PromoteRequestSchema = z.object({
  system: SystemNameSchema,
  agent_type: AgentTypeSchema.optional(),
  /** How many of the run's best distinct configs become arms. */
  top_k: PromoteTopKSchema,
});
export type PromoteRequest = z.input<typeof PromoteRequestSchema>;

export const PromoteResultSchema = z.object({
  system: z.string(),
  version: z.int(),
  /** The arm ids added (a config promoted before is not added again). */
  added: z.array(z.string()),
});
export type PromoteResult = z.infer<typeof PromoteResultSchema>;

/** One (candidate, test case) evaluation of a run, as D1 keeps it (the answer excerpt capped). */
export const RunEvaluationSchema = z.object({
  generation: z.int(),
  candidate: z.string(),
  test_case_id: z.string(),
  score: z.number(),
  success: z.boolean(),
  failure: z.enum(["target", "evaluation"]).nullable(),
  error: z.string().nullable(),
  metrics: z.record(z.string(), z.number().nullable()),
  latency_ms: z.number(),
  cost_usd: z.number(),
  evaluation_cost_usd: z.number(),
  attempts: z.int(),
  response_excerpt: z.string(),
});
export type RunEvaluation = z.infer<typeof RunEvaluationSchema>;

/** A candidate config of a run, live while it runs: its fitness so far (on the test cases it has been scored on). */
export const RunCandidateSchema = z.object({
  generation: z.int(),
  candidate: z.string(),
  params: z.record(z.string(), JsonSchema),
  /** The weighted mean over the test cases scored so far. */
  score: z.number(),
  /** Scored on every test case (only complete candidates can be the best). */
  complete: z.boolean(),
  /** Raced out: left before every test case, its score an estimate. */
  dropped: z.boolean(),
});
export type RunCandidate = z.infer<typeof RunCandidateSchema>;
