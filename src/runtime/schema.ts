/**
 * The runtime loop's data: a system's runtime config (the seed's RuntimeConfig plus extensions), and the requests
 * and answers of select and update. One zod definition each: the type, the validator of the SDK and the HTTP API,
 * and the API description.
 */
import { z } from "zod";
import { IntervalSchema } from "../bandit/beta.js";
import { ContextFeaturesSchema, ContextViewSchema } from "../bandit/contextual.js";
import { MAX_PRIOR_STRENGTH } from "../bandit/pooling.js";
import { RewardEvaluatorSchema } from "../bandit/reward.js";
import { checkSelectionSettings, SELECTION_SETTINGS } from "../bandit/selection.js";
import { ComputedUpdateSchema } from "../bandit/update.js";
import { strictObject } from "../config/unknown-keys.js";
import { JsonSchema, TimestampSchema, utf8Length } from "../json.js";
import { NextCursorSchema } from "../page.js";

const Json = JsonSchema;
const Params = z.record(z.string(), Json);

/**
 * What one field the runtime stores with every decision or arm may hold, as JSON text: an arm's params, name and
 * description, a select's context, an update's metadata. Each is copied into the decision log.
 */
const MAX_FIELD_BYTES = 8 * 1024;
/** The schema, refusing values whose JSON text is larger than MAX_FIELD_BYTES (UTF-8 bytes). */
function sized<T extends z.ZodType>(schema: T, what: string): T {
  return schema.refine(
    (value) => utf8Length(typeof value === "string" ? value : JSON.stringify(value)) <= MAX_FIELD_BYTES,
    `${what} is limited to ${MAX_FIELD_BYTES / 1024} KiB (as JSON)`,
  ) as unknown as T;
}

/** Names that travel in URLs and Durable Object keys: letters, digits and `_ . : -`. */
const NAME = /^[A-Za-z0-9_.:-]+$/;
export const SystemNameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(NAME, "a system name is 1 to 200 letters, digits, '_', '.', ':' or '-'")
  // In a URL path they would name the folder or its parent, not a system.
  .refine((name) => name !== "." && name !== "..", "'.' and '..' cannot name a system");
export const AgentTypeSchema = z.string().min(1).max(100).regex(NAME, "an agent type is 1 to 100 letters, digits, '_', '.', ':' or '-'");

/**
 * Control and format characters (U+202E turns text around), line breaks, and lone surrogates (no storage keeps
 * them: the id would never be found again): an arm id is shown in logs, tables and the dashboard on one line.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
/** Half of a surrogate pair alone: not Unicode, and changed by every encoder on the way to storage. */
const LONE_SURROGATE = /\p{Cs}/u;
const ArmIdSchema = z
  .string()
  .min(1)
  .max(200)
  .refine((id) => !UNPRINTABLE.test(id), "an arm id may not hold control or format characters, line breaks or lone surrogates")
  .refine((id) => id.trim() !== "", "an arm id may not be only spaces");

/** Where an arm came from when an optimization run promoted it: the run, and the score it had there. */
const ArmSourceSchema = strictObject({ run_id: z.string(), score: z.number() });

const ArmTemplateSchema = strictObject({
  arm_id: ArmIdSchema,
  name: sized(z.string(), "an arm's name").optional(),
  params: sized(Params, "an arm's params").default({}),
  description: sized(z.string(), "an arm's description").optional(),
  source: ArmSourceSchema.optional(),
});
export type ArmTemplateInput = z.input<typeof ArmTemplateSchema>;
/** An arm of a system's config; also what runtimeEvolveArms breeds and a RuntimeStorage is asked to add. */
export type ArmTemplate = z.output<typeof ArmTemplateSchema>;

/** The most arms a system holds (promotion included): every select samples and weighs each. */
export const MAX_ARMS = 100;

/** How many of a run's best distinct configs a promotion makes arms, by request or on a schedule. */
export const PromoteTopKSchema = z.int().min(1).max(20).default(3);

/** Every key is checked: a misspelt setting would otherwise run silently with its default. */
/** How long raw decisions are kept by default (`decision_retention_days`). */
export const DEFAULT_RETENTION_DAYS = 14;

export const RuntimeConfigSchema = strictObject({
  /** Informational in the body of PUT /v1/systems/{system}: the path names the system. */
  system: SystemNameSchema.optional(),
  agent_type: AgentTypeSchema.optional(),
  /** The seed's field; accepted and unused. */
  min_arms: z.int().min(0).default(1),
  /** How long a worker isolate may serve this config from its cache after it changes. */
  cache_ttl_seconds: z.int().min(0).max(3600).default(30),
  default_arms: z
    .array(ArmTemplateSchema)
    .max(MAX_ARMS)
    .default([])
    .refine((arms) => new Set(arms.map((a) => a.arm_id)).size === arms.length, "arm_id values must be unique"),
  reward_evaluator: RewardEvaluatorSchema.nullable().default(null),
  /**
   * The request context's features the policy may read (`select`'s `context`): categorical (declared values, or the
   * most frequent max_values) or numeric. Other context keys are logged and ignored. The service fits a model of
   * each arm's reward on them from the log; selection_policy: contextual selects with it.
   */
  context_features: ContextFeaturesSchema,
  ...SELECTION_SETTINGS,
  /**
   * Drift: every update of a user discounts all of that user's evidence by this (1: none, the seed's behaviour;
   * 0.99: recent rewards weigh more, and an arm left aside regains its uncertainty and is tried again).
   */
  reward_decay: z.number().gt(0).max(1).default(1),
  /** Drift: only a user's last this many updates count (null: all). */
  reward_window: z.int().min(1).max(1000).nullable().default(null),
  /**
   * Pooled priors: a user's arms start from what each arm does across users, refreshed on a schedule from the
   * decision log. prior_strength: the effective sample size the population is worth to one user, or "auto" to
   * estimate it from how much users agree (empirical Bayes; see src/bandit/pooling.ts).
   */
  pooling: strictObject({
    enabled: z.boolean().default(true),
    prior_strength: z.union([z.literal("auto"), z.number().min(0).max(MAX_PRIOR_STRENGTH)]).default("auto"),
  }).prefault({}),
  /**
   * Re-optimize on a schedule: every `every` (like 6h or 1d), run `config` (an optimization config, test cases
   * inline), warm-started from the last run's best configs and this system's best arms, and promote its best
   * `promote.top_k` configs as arms when it succeeds.
   */
  reoptimize: strictObject({
    every: z.string().regex(/^\d+(m|h|d)$/, "a duration like 30m, 6h or 1d"),
    /** An optimization config, validated as one when a scheduled run starts it. */
    config: z.record(z.string(), Json),
    promote: strictObject({ top_k: PromoteTopKSchema }).prefault({}),
  })
    .nullable()
    .default(null),
  /**
   * Days a decision stays in the service's raw log (and a late reward is accepted); older decisions are archived
   * (to R2 on the service), and the totals and the population, kept as rollups, are unchanged.
   */
  decision_retention_days: z.int().min(1).max(3650).default(DEFAULT_RETENTION_DAYS),
  /** Reward applied to a decision left without one for reward_timeout_seconds (both or neither). */
  default_reward: z.number().min(0).max(1).nullable().default(null),
  reward_timeout_seconds: z.int().min(1).nullable().default(null),
}).superRefine((config, ctx) => {
  if ((config.default_reward === null) !== (config.reward_timeout_seconds === null)) {
    ctx.addIssue({ code: "custom", path: ["default_reward"], message: "default_reward and reward_timeout_seconds go together" });
  }
  checkSelectionSettings(config, ctx);
  if (config.selection_policy === "contextual" && Object.keys(config.context_features).length === 0) {
    ctx.addIssue({ code: "custom", path: ["context_features"], message: "selection_policy contextual needs at least one context feature" });
  }
  if (config.selection_policy === "contextual" && !config.pooling.enabled) {
    ctx.addIssue({
      code: "custom",
      path: ["pooling", "enabled"],
      message: "selection_policy contextual pools across users (the context model is each user's prior): pooling must stay enabled",
    });
  }
  if (config.reward_timeout_seconds !== null && config.reward_timeout_seconds >= config.decision_retention_days * 86_400) {
    ctx.addIssue({
      code: "custom",
      path: ["reward_timeout_seconds"],
      message: "must be shorter than decision_retention_days: a decision is archived before its default reward would apply",
    });
  }
  const arms = config.default_arms.length;
  if (arms > 0 && config.traffic_floor * arms > 1) {
    ctx.addIssue({ code: "custom", path: ["traffic_floor"], message: `at most 1 / ${arms} with ${arms} arms` });
  }
});
export type RuntimeConfigInput = z.input<typeof RuntimeConfigSchema>;
export type RuntimeConfig = z.output<typeof RuntimeConfigSchema>;

/** A system as PUT and GET /v1/systems/{system} answer it: its config with every default filled in. */
export const SystemRecordSchema = z.object({
  system: z.string(),
  /** 1 when created, one more at each write (a promotion included). */
  version: z.int(),
  updated_at: TimestampSchema,
  config: RuntimeConfigSchema,
});
export type SystemRecord = z.output<typeof SystemRecordSchema>;

export const UserIdSchema = z
  .string()
  .min(1)
  .max(256)
  .refine((id) => !LONE_SURROGATE.test(id), "a user id must be well-formed Unicode (no lone surrogates)");
const Score = z.number().min(0).max(1);

export const SelectRequestSchema = z.object({
  user_id: UserIdSchema,
  agent_type: AgentTypeSchema.optional(),
  context: sized(z.record(z.string(), Json), "context").optional(),
});
export type SelectRequest = z.output<typeof SelectRequestSchema>;

/** Why an update with signals is refused by a system that cannot turn them into a reward. */
export const NO_REWARD_EVALUATOR = "this system has no reward_evaluator: send reward, or configure reward_evaluator";

/** What the service takes as a decision id (the runtime makes them: src/runtime/decision-id.ts). */
export const DecisionIdSchema = z.string().min(1).max(200);

export const UpdateRequestSchema = z.object({
  user_id: UserIdSchema,
  decision_id: DecisionIdSchema,
  agent_type: AgentTypeSchema.optional(),
  reward: Score.optional(),
  signals: z.record(z.string(), z.number()).optional(),
  engagement_score: Score.optional(),
  grading_score: Score.optional(),
  metadata: sized(z.record(z.string(), Json), "metadata").optional(),
});
export type UpdateRequest = z.output<typeof UpdateRequestSchema>;

/** An arm as a selection saw it: shown in the answer (arms_state) and logged with the decision (arms_snapshot). */
const ArmSnapshotSchema = z.object({
  arm_id: z.string(),
  name: z.string().nullable(),
  alpha: z.number(),
  beta: z.number(),
  sampled_value: z.number(),
  /**
   * The arm's rewards so far (what the exploration bonus and the stability rule count), for offline evaluation;
   * absent from decisions logged before it was.
   */
  total_pulls: z.number().optional(),
  metadata: z.record(z.string(), Json),
});
export type ArmSnapshot = z.output<typeof ArmSnapshotSchema>;

export const SelectionSchema = z.object({
  decision_id: z.string().nullable(),
  arm_id: z.string(),
  params: Params,
  sampled_value: z.number(),
  /** Probability that the policy chooses this arm now (for offline evaluation). */
  selection_probability: z.number(),
  arms_state: z.array(ArmSnapshotSchema),
  metadata: z.record(z.string(), Json),
});
export type RuntimeSelection = z.output<typeof SelectionSchema>;

export const UpdateResultSchema = z.object({
  success: z.boolean(),
  reward: z.number(),
  engagement_score: z.number(),
  grading_score: z.number().nullable(),
  computed_update: ComputedUpdateSchema.nullable(),
  /** true when the decision already had its reward: nothing changed. */
  duplicate: z.boolean(),
  error: z.string().optional(),
  /** Why an update was refused. */
  code: z.enum(["invalid_score", "no_reward_evaluator", "decision_not_found", "decision_of_another_user", "arm_not_found"]).optional(),
});
export type UpdateResult = z.output<typeof UpdateResultSchema>;

export const DecisionSchema = z.object({
  decision_id: z.string(),
  user_id: z.string(),
  agent_type: z.string(),
  arm_id: z.string(),
  params: Params,
  selection_probability: z.number().nullable(),
  arms_snapshot: z.array(ArmSnapshotSchema),
  created_at: TimestampSchema,
  context: z.record(z.string(), Json),
  reward: z.number().nullable(),
  engagement: z.number().nullable(),
  grading: z.number().nullable(),
  rewarded_at: TimestampSchema.nullable(),
  /** update: reported by the app; default: default_reward after the timeout. */
  reward_source: z.enum(["update", "default"]).nullable(),
});
export type RuntimeDecision = z.output<typeof DecisionSchema>;

/** A decision as a system's decision log lists it: the decision without the arms' snapshot and the reward's parts. */
const ListedDecisionSchema = DecisionSchema.pick({
  decision_id: true,
  user_id: true,
  agent_type: true,
  arm_id: true,
  params: true,
  selection_probability: true,
  context: true,
  created_at: true,
  reward: true,
  reward_source: true,
  rewarded_at: true,
});
export type ListedDecision = z.output<typeof ListedDecisionSchema>;

/** GET /v1/systems/{system}/decisions: a page of them, newest first. */
export const DecisionListSchema = z.object({ decisions: z.array(ListedDecisionSchema), next_cursor: NextCursorSchema });

const ArmViewSchema = z.object({
  arm_id: z.string(),
  name: z.string().nullable(),
  params: Params,
  alpha: z.number(),
  beta: z.number(),
  total_pulls: z.number(),
  total_reward: z.number(),
  mean: z.number(),
  confidence_interval: IntervalSchema,
  probability_best: z.number(),
  /** false for an arm no longer in the system's default arms (kept with its history, not chosen). */
  active: z.boolean(),
});
export type ArmView = z.output<typeof ArmViewSchema>;

/** GET /v1/systems/{system}/arms. */
export const ArmListSchema = z.object({ arms: z.array(ArmViewSchema) });

/** A system as the list of systems shows it. */
export const SystemListItemSchema = z.object({
  system: z.string(),
  version: z.int(),
  agent_type: z.string(),
  arms: z.int(),
  updated_at: TimestampSchema,
});
export type SystemListItem = z.output<typeof SystemListItemSchema>;

/** GET /v1/systems: a page of them, most recently changed first. */
export const SystemListSchema = z.object({ systems: z.array(SystemListItemSchema), next_cursor: NextCursorSchema });

/**
 * An arm across all users of a system, from the decision log: a Beta(1 + rewards, 1 + rewarded - rewards)
 * posterior over its mean reward (fractional rewards count fractionally).
 */
const ArmSummarySchema = z.object({
  arm_id: z.string(),
  name: z.string().nullable(),
  params: Params,
  source: ArmSourceSchema.nullable(),
  /** Selections of it. */
  pulls: z.int(),
  /** Selections that got a reward. */
  rewarded: z.int(),
  reward_sum: z.number(),
  alpha: z.number(),
  beta: z.number(),
  mean: z.number(),
  confidence_interval: IntervalSchema,
  /** The probability that its mean reward is the highest of the system's arms, under these posteriors. */
  probability_best: z.number(),
});
export type ArmSummary = z.output<typeof ArmSummarySchema>;

const RecentDecisionSchema = z.object({
  decision_id: z.string(),
  user_id: z.string(),
  agent_type: z.string(),
  arm_id: z.string(),
  selection_probability: z.number().nullable(),
  created_at: TimestampSchema,
  reward: z.number().nullable(),
});
export type RecentDecision = z.output<typeof RecentDecisionSchema>;

/**
 * A system's decision log on its way to D1, added up over its log shards (`GET /v1/systems/{system}/log`): what it
 * cost D1 and how long rows took to get there, since the shards were created.
 */
export const DecisionLogStatsSchema = z.object({
  system: z.string(),
  /** The D1 binding that holds the system's log. */
  database: z.string(),
  shards: z.int(),
  /** Rows the shards hold that D1 has not taken yet (not counting what users' objects have not handed over). */
  pending: z.int(),
  /** D1 batch calls that succeeded: the log's D1 write calls. */
  d1_batches: z.int(),
  /** D1 batch calls that failed; their rows stayed in the shard and went again. */
  d1_failed_batches: z.int(),
  /** Rows those calls carried (a decision and its later reward may be two). */
  rows_written: z.int(),
  /** Time the successful calls took, from the call to its answer (the clock advances only across I/O). */
  d1_write_ms: z.number(),
  /** From the newest fact a row carries (its decision, or its reward if later) to its batch's success; within 10%. */
  flush_latency_ms: z.object({ rows: z.int(), p50: z.number().nullable(), p99: z.number().nullable() }),
});
export type DecisionLogStats = z.output<typeof DecisionLogStatsSchema>;

export const SystemSummarySchema = z.object({
  system: z.string(),
  version: z.int(),
  agent_type: z.string(),
  updated_at: TimestampSchema,
  arms: z.array(ArmSummarySchema),
  recent_decisions: z.array(RecentDecisionSchema),
  /** The optimization runs its arms came from, and its scheduled runs, newest first. */
  run_ids: z.array(z.string()),
  /**
   * For a system with context_features: per feature value (or numeric bucket), each arm's observed reward over
   * the last 30 days and what the context model predicts (of the system's agent type); null without features.
   */
  context: ContextViewSchema.nullable(),
});

/** The most hours one timeline covers (30 days of hourly buckets). */
const MAX_TIMELINE_HOURS = 720;

/** GET /v1/systems/{system}/timeline's query: how many hours back from the current one, and one agent type or all. */
export const TimelineQuerySchema = z.object({
  hours: z.coerce.number().int().min(1).max(MAX_TIMELINE_HOURS).default(168),
  agent_type: AgentTypeSchema.optional(),
});

/** One arm's hourly totals, each array as long as the timeline's hours (0 where nothing happened). */
const TimelineArmSchema = z.object({
  arm_id: z.string(),
  /** From the system's config; null for an arm no longer in it. */
  name: z.string().nullable(),
  selections: z.array(z.int()),
  /** Selections of that hour that got a reward (counted in the hour of the selection, not of the reward). */
  rewarded: z.array(z.int()),
  reward_sum: z.array(z.number()),
});

/**
 * GET /v1/systems/{system}/timeline: each arm's selections and rewards per UTC hour, from the decision rollups (so
 * archived decisions still count), oldest hour first and ending with the current one. Arms are the config's, in
 * its order, then any other arm with decisions in the window.
 */
export const SystemTimelineSchema = z.object({
  system: z.string(),
  /** null: every agent type together. */
  agent_type: z.string().nullable(),
  /** The start of each hour, e.g. 2026-12-03T09:00:00Z. */
  hours: z.array(TimestampSchema),
  arms: z.array(TimelineArmSchema),
});
export type SystemTimeline = z.output<typeof SystemTimelineSchema>;
/**
 * DELETE /v1/systems/{system}/users/{user_id}: what forgetting a user removed, over every agent type the system has
 * logged (plus its configured one and "default"). A second call finds nothing: every count 0.
 */
export const ForgetResultSchema = z.object({
  system: z.string(),
  user_id: z.string(),
  /** The agent types whose arms objects were looked at. */
  agent_types: z.array(z.string()),
  /** Arms objects (one per agent type) that held anything, now empty. */
  arms_objects: z.int(),
  /** Arms those objects held. */
  arms_in_object: z.int(),
  /** Decisions those objects held (the user's recent ones, handed on to the log or not yet). */
  decisions_in_object: z.int(),
  /** The user's rows that were waiting in the log shard for D1. */
  pending_in_log: z.int(),
  /** The user's decisions deleted from the D1 log. */
  decisions_in_log: z.int(),
  /**
   * The archive is not rewritten: a tombstone (the user and the time of forgetting) makes every archive read drop
   * the user's lines, and refuses any decision of theirs made before it that arrives late.
   */
  archive: z.literal("tombstoned"),
});
export type ForgetResult = z.output<typeof ForgetResultSchema>;
