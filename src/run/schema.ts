/**
 * What a run reports, in process and on the service, and how the HTTP API shows runs: one zod definition each,
 * the type of the engine, the SDK client and the worker alike, and the API description.
 */
import { z } from "zod";
import { ConfigIssueSchema } from "../config/issues.js";
import { CaseResultSchema, FailureKindSchema } from "../evaluate/case.js";
import { JsonSchema, TimestampSchema } from "../json.js";
import { CandidateSchema, GenerationSummarySchema, StopReasonSchema } from "../optimize/schema.js";
import { NextCursorSchema } from "../page.js";
import { AgentTypeSchema, PromoteTopKSchema, SystemNameSchema } from "../runtime/schema.js";

const Params = z.record(z.string(), JsonSchema);

const RunStatusSchema = z.enum(["queued", "running", "succeeded", "failed", "cancelled"]);
export type RunStatus = z.infer<typeof RunStatusSchema>;

export const RunIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,120}$/, "not a run id");

/** One (candidate, test case) evaluation of a run. */
const EvaluationRecordSchema = CaseResultSchema.extend({
  generation: z.int(),
  /** The candidate's config hash. */
  candidate: z.string(),
  params: Params,
});
export type EvaluationRecord = z.output<typeof EvaluationRecordSchema>;

/** A candidate of a finished run. */
const CandidateRecordSchema = CandidateSchema.extend({
  /** Mean of each metric over the test cases it was scored on (metrics that did not apply are left out). */
  metrics: z.record(z.string(), z.number()),
});
export type CandidateRecord = z.output<typeof CandidateRecordSchema>;

/** Which test case failed, how often and why. */
const FailureSummarySchema = z.object({
  test_case_id: z.string(),
  failures: z.int(),
  evaluations: z.int(),
  reasons: z.array(z.object({ kind: FailureKindSchema, message: z.string(), count: z.int() })),
});
export type FailureSummary = z.output<typeof FailureSummarySchema>;

/** A run's progress, as runOptimization's and runOnServer's onEvent report it. */
const RunEventSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("run_started"),
    run_id: z.string(),
    algorithm: z.string(),
    generations: z.int(),
    population_size: z.int(),
    test_cases: z.int(),
    max_calls: z.int(),
  }),
  z.object({ type: z.literal("generation_started"), generation: z.int() }),
  /** A run on the service reports its calls so far when polled, not one event per evaluation. */
  z.object({ type: z.literal("progress"), target_calls: z.int() }),
  z.object({
    type: z.literal("evaluation"),
    generation: z.int(),
    candidate: z.string(),
    test_case_id: z.string(),
    score: z.number(),
    success: z.boolean(),
    error: z.string().nullable(),
    target_calls: z.int(),
  }),
  z.object({
    type: z.literal("generation_finished"),
    generation: z.int(),
    best: z.number().nullable(),
    mean: z.number().nullable(),
    calls: z.int(),
    target_calls: z.int(),
  }),
  z.object({
    type: z.literal("run_finished"),
    success: z.boolean(),
    best_score: z.number().nullable(),
    target_calls: z.int(),
    /** A StopReason, or the run's status when it ended without one. */
    stop_reason: z.string(),
  }),
]);
export type RunEvent = z.output<typeof RunEventSchema>;

/** What the society's proposer (RLP) did in a run: its calls, and what became of the candidates it proposed. */
const SocietyReportSchema = z.object({
  proposer_calls: z.int(),
  /** Calls that failed (after their retries): the run went on without their candidates. */
  failed_calls: z.int(),
  /** Replies with no readable list of candidates. */
  malformed_replies: z.int(),
  proposed: z.int(),
  /** In the search space (a new text for a text parameter is); the others were dropped. */
  valid: z.int(),
  invalid: z.int(),
  /** Valid, but tried already. */
  duplicates: z.int(),
  /** Proposed to the run (the rest were left when it ended). */
  tried: z.int(),
  /** Scored on every test case above the best score when they were proposed. */
  better: z.int(),
  /** The run's best config is one the proposer wrote. */
  best_proposed: z.boolean(),
  /** What the proposer's model calls cost (USD), counted in the run's cost budget. */
  cost_usd: z.number(),
});
export type SocietyReport = z.output<typeof SocietyReportSchema>;

const GeneralizationSchema = z.object({
  /** The best config's score on the run's own test cases. */
  original_score: z.number(),
  /** Its weighted mean score on the generated cases; null when none was valid. */
  generated_score: z.number().nullable(),
  generated_cases: z.int(),
  /** Variations the model wrote that were dropped: another input shape, or a copy of a case. */
  dropped: z.int(),
  cases: z.array(z.object({ id: z.string(), from: z.string(), score: z.number(), input: z.record(z.string(), JsonSchema) })),
});
export type Generalization = z.output<typeof GeneralizationSchema>;

/** What a run did, however it ended: reported in the result on success and on failure alike. */
const RunTotalsSchema = z.object({
  target_calls: z.int(),
  failed_calls: z.int(),
  /** Attempts beyond the first, over all calls to the target. */
  retries: z.int(),
  /** Which test cases failed, how often and why. */
  failures: z.array(FailureSummarySchema),
  /** What the calls to the team's API cost (USD); billed whether or not the run completes. */
  cost_usd: z.number(),
  /** What scoring cost: judge and embedding calls (USD). */
  evaluation_cost_usd: z.number(),
  history: z.array(GenerationSummarySchema),
  /** Present when the society proposed (society.learning.rlp_enabled). */
  society: SocietyReportSchema.optional(),
  /** SAO's check: the best config on variations of its weakest test cases (society.learning.sao_enabled). */
  generalization: GeneralizationSchema.optional(),
});
export type RunTotals = z.output<typeof RunTotalsSchema>;

/** Everything a finished run knows (the CLI writes it as its report files). */
const RunReportSchema = RunTotalsSchema.extend({
  run_id: z.string(),
  api_name: z.string(),
  algorithm: z.string(),
  seed: z.int(),
  started_at: TimestampSchema,
  finished_at: TimestampSchema,
  stop_reason: StopReasonSchema,
  best: z.object({ config: Params, score: z.number() }).nullable(),
  generations_run: z.int(),
  configs_generated: z.int(),
  candidates: z.array(CandidateRecordSchema),
  evaluations: z.array(EvaluationRecordSchema),
  warnings: z.array(ConfigIssueSchema),
  /** Set when the run produced no usable result. */
  error: z.string().nullable(),
});
export type RunReport = z.output<typeof RunReportSchema>;

/**
 * The seed's response object on success: `{success, best_config, best_score, configs_generated, configs_saved,
 * optimization_run_id, generations_run, timestamp}`, plus what users of an optimizer need next.
 */
const OptimizationSuccessSchema = RunTotalsSchema.extend({
  success: z.literal(true),
  best_config: Params,
  best_score: z.number(),
  /** The best config's mean score per metric, over the test cases each applied to. */
  best_metrics: z.record(z.string(), z.number()),
  configs_generated: z.int(),
  configs_saved: z.int(),
  optimization_run_id: z.string(),
  generations_run: z.int(),
  /** When the run finished. */
  timestamp: TimestampSchema,
  warnings: z.array(z.string()),
  algorithm: z.string(),
  seed: z.int(),
  stop_reason: StopReasonSchema,
});

/** The seed's response object otherwise: `{success: false, error, configs_generated: 0, configs_saved: 0}`, plus what is known. */
const OptimizationFailureSchema = RunTotalsSchema.partial().extend({
  success: z.literal(false),
  error: z.string(),
  configs_generated: z.literal(0),
  configs_saved: z.literal(0),
  /** Each problem with its path, when the config was at fault. */
  errors: z.array(ConfigIssueSchema).optional(),
  warnings: z.array(z.string()).optional(),
  optimization_run_id: z.string().optional(),
  /** Why the run ended (all_failed: not one evaluation of its first round succeeded). */
  stop_reason: z.string().optional(),
  best_config: Params.nullable().optional(),
  best_score: z.number().nullable().optional(),
});
export type OptimizationFailure = z.output<typeof OptimizationFailureSchema>;

/** What runOptimization returns, and a finished run's `result` on the service. */
const OptimizationResultSchema = z.discriminatedUnion("success", [OptimizationSuccessSchema, OptimizationFailureSchema]);
/** `error` is declared (never set) on success so that `result.error` reads without narrowing. */
export type OptimizationSuccess = z.output<typeof OptimizationSuccessSchema> & { error?: undefined };
export type OptimizationResult = OptimizationSuccess | OptimizationFailure;

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
  result: OptimizationResultSchema.nullable(),
});
export type RunView = Omit<z.output<typeof RunViewSchema>, "result"> & { result: OptimizationResult | null };

const RunSummarySchema = z.looseObject({
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
  best_config: Params.nullable(),
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
const RunEvaluationSchema = EvaluationRecordSchema.omit({ params: true, input_tokens: true, output_tokens: true });
export type RunEvaluation = z.output<typeof RunEvaluationSchema>;

/** GET /v1/runs: a page of them, newest first. */
export const RunListSchema = z.object({ runs: z.array(RunSummarySchema), next_cursor: NextCursorSchema });
/** GET /v1/runs/{run_id}/evaluations. */
export const EvaluationPageSchema = z.object({ evaluations: z.array(RunEvaluationSchema) });
/** GET /v1/runs/{run_id}/candidates: every candidate scored so far, live while the run goes. */
/** What starting a config would find, without starting it (POST /v1/validate, `convergence validate --server`). */
export const ConfigCheckSchema = z.object({
  valid: z.boolean(),
  errors: z.array(ConfigIssueSchema),
  warnings: z.array(ConfigIssueSchema),
});
export type ConfigCheck = z.output<typeof ConfigCheckSchema>;

export const CandidateListSchema = z.object({ candidates: z.array(CandidateSchema) });
