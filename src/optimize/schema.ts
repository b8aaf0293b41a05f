/**
 * What a study reports that reaches the wire (a run's history, its candidates, why it stopped): one zod
 * definition each, the type of the study and of the run's answers, and their API description.
 */
import { z } from "zod";
import { JsonSchema } from "../json.js";

/** One generation of a run's history. */
export const GenerationSummarySchema = z.object({
  generation: z.int(),
  /** Best full score found so far (after this generation). */
  best: z.number().nullable(),
  /** Best full score among this generation's candidates. */
  generation_best: z.number().nullable(),
  /** Mean fitness of this generation's candidates (estimates for raced-out ones). */
  mean: z.number().nullable(),
  /** Target calls made during this generation. */
  calls: z.int(),
  candidates: z.int(),
  complete: z.int(),
  dropped: z.int(),
});
export type GenerationSummary = z.output<typeof GenerationSummarySchema>;

export const StopReasonSchema = z.enum([
  "generations",
  "no_improvement",
  "target_score",
  "max_target_calls",
  "max_cost_usd",
  "cancelled",
  /** Not one evaluation of a whole round succeeded: the target (or the judge) is down or misconfigured. */
  "all_failed",
  /** The run's state outgrew what its storage holds (a run on the service); it ended rather than hang. */
  "state_limit",
]);
export type StopReason = z.output<typeof StopReasonSchema>;

/** A candidate config of a study, with its fitness so far (on the test cases it has been scored on). */
export const CandidateSchema = z.object({
  generation: z.int(),
  /** The config's hash. */
  candidate: z.string(),
  params: z.record(z.string(), JsonSchema),
  /** The weighted mean over the test cases scored so far: the full score, or the race's estimate. */
  score: z.number(),
  /** Scored on every test case (only complete candidates can be the best). */
  complete: z.boolean(),
  /** Raced out: left before every test case, its score an estimate. */
  dropped: z.boolean(),
});
export type Candidate = z.output<typeof CandidateSchema>;
