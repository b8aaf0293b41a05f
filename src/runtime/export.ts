/**
 * The decision log as it leaves the service: one line of `GET /v1/systems/{system}/export` (and of the R2 archive,
 * which keeps the same lines), and a page of them. A line carries the whole decision, its arms' snapshot and
 * selection probability included, so offline evaluation and a team's warehouse can use archived decisions.
 */
import { z } from "zod";
import { JsonSchema, TimestampSchema } from "../json.js";

export const ExportedDecisionSchema = z.object({
  decision_id: z.string(),
  system: z.string(),
  agent_type: z.string(),
  user_id: z.string(),
  arm_id: z.string(),
  params: JsonSchema,
  selection_probability: z.number().nullable(),
  context: JsonSchema,
  created_at: TimestampSchema,
  reward: z.number().nullable(),
  engagement: z.number().nullable(),
  grading: z.number().nullable(),
  reward_source: z.string().nullable(),
  rewarded_at: TimestampSchema.nullable(),
  update_metadata: JsonSchema.nullable(),
  /** The arms when the decision was made, as rows [arm_id, alpha, beta, sampled value, pulls?]; null when not logged. */
  arms_snapshot: JsonSchema.nullable(),
  /** The reward's change to its pooling unit (src/bandit/pooling.ts); null without a reward. */
  unit_new: z.number().nullable(),
  unit_sum_sq: z.number().nullable(),
  unit_n_sq: z.number().nullable(),
  /**
   * The context as the system's context_features encoded it ([[token, value], ...], src/bandit/contextual.ts); null
   * without features, absent from lines archived before they were logged.
   */
  features: JsonSchema.nullable().optional(),
});
export type ExportedDecision = z.output<typeof ExportedDecisionSchema>;

/** Largest page of an export. */
const MAX_EXPORT_PAGE = 5_000;

export const ExportQuerySchema = z.object({
  /** Decisions made at or after this time (ISO 8601 date or timestamp). */
  since: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
  /** Decisions per page (the last page may hold fewer; a page may hold fewer when the archive read reached its bound). */
  limit: z.coerce.number().int().min(1).max(MAX_EXPORT_PAGE).default(1_000),
  /** The previous page's next_cursor. */
  cursor: z.string().min(1).max(2_000).optional(),
});

export const ExportPageSchema = z.object({
  system: z.string(),
  /** Oldest first; decisions of forgotten users left out. */
  decisions: z.array(ExportedDecisionSchema),
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: z.string().nullable(),
});
export type ExportPage = z.output<typeof ExportPageSchema>;
