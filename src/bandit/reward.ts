/**
 * The seed's reward evaluator: a reward in [0, 1] from named signals, Σ weight × signal / Σ weight over every
 * configured signal (a signal the app did not send counts as 0, as in the seed). A metric with `normalize` (the
 * default) clamps its signal to [0, 1] first; without it the signal is used as given and the total is clamped.
 * Signals without a configured metric are ignored.
 */
import { z } from "zod";
import { strictObject } from "../config/unknown-keys.js";

const RewardMetricSchema = strictObject({
  weight: z.number().min(0).max(1),
  normalize: z.boolean().default(true),
  /** The seed repeats the key here; accepted and unused. */
  name: z.string().optional(),
});

export const RewardEvaluatorSchema = strictObject({
  metrics: z.record(z.string(), RewardMetricSchema).refine((m) => Object.keys(m).length > 0, "must define at least one signal"),
});
export type RewardEvaluatorConfig = z.output<typeof RewardEvaluatorSchema>;

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/** The reward the signals make (0 when the configured weights sum to 0, as in the seed). */
export function rewardFromSignals(config: RewardEvaluatorConfig, signals: Readonly<Record<string, number>>): number {
  let sum = 0;
  let total = 0;
  for (const [name, metric] of Object.entries(config.metrics)) {
    total += metric.weight;
    const value = Object.hasOwn(signals, name) ? (signals[name] as number) : 0;
    if (!Number.isFinite(value)) continue;
    sum += metric.weight * (metric.normalize ? clamp01(value) : value);
  }
  return total > 0 ? clamp01(sum / total) : 0;
}
