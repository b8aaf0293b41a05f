/**
 * The selection settings of a system (the fields of its runtime config that choose the arm) and the one mapping
 * from them to the sampler's options. The runtime selects with it, offline evaluation estimates a `thompson`
 * policy with it, and bench:bandit runs the runtime itself: a setting means the same in all three, so an offline
 * estimate of the settings a system ran reproduces the probabilities its decisions were logged with.
 */
import { z } from "zod";
import { strictObject } from "../config/unknown-keys.js";
import type { Uniform } from "./beta.js";
import { type ProbabilityMemo, type SelectionOptions, SelectionStrategySchema } from "./thompson.js";

/** The settings' fields, spread into the runtime config and into offline evaluation's `thompson` policy. */
export const SELECTION_SETTINGS = {
  /** null: plain Thompson sampling (the seed's default). */
  selection_strategy: SelectionStrategySchema.nullable().default(null),
  /**
   * thompson: play the arm with the highest posterior sample. top_two: play that leader with probability
   * top_two_beta, otherwise the best of fresh samples that is not the leader (Russo 2016): more exploration
   * among the contenders, for finding the best arm faster. contextual: thompson, each arm's prior being what the
   * system's context model predicts for the request's context (src/bandit/contextual.ts; needs context_features).
   */
  selection_policy: z.enum(["thompson", "top_two", "contextual"]).default("thompson"),
  /**
   * Sample each arm at least as widely as the leader's reward variance makes it, so an arm that started with an
   * unlucky streak is tried again (src/bandit/thompson.ts, leaderVarianceFloor). false: textbook sampling.
   */
  leader_variance_floor: z.boolean().default(true),
  top_two_beta: z.number().gt(0).lt(1).default(0.5),
  /** Each arm is chosen with at least this probability (0 disables; at most 1 / number of arms). */
  traffic_floor: z.number().min(0).max(1).default(0),
};

const SelectionSettingsSchema = strictObject(SELECTION_SETTINGS).superRefine(checkSelectionSettings);
export type SelectionSettings = z.output<typeof SelectionSettingsSchema>;

const TOP_TWO_WITH_STABILITY =
  "the stability rule keeps one arm, which top_two sampling would override: set selection_strategy.use_stability: false";

/** What no sampler can do: refused wherever settings are written (a runtime config, an offline policy). */
export function checkSelectionSettings(settings: Pick<SelectionSettings, "selection_policy" | "selection_strategy">, ctx: z.RefinementCtx) {
  if (settings.selection_policy === "top_two" && settings.selection_strategy?.use_stability) {
    ctx.addIssue({ code: "custom", path: ["selection_strategy", "use_stability"], message: TOP_TWO_WITH_STABILITY });
  }
}

/** Only the selection settings of a larger object (a system's runtime config), as a `thompson` policy takes them. */
export function selectionSettingsOf(config: SelectionSettings): SelectionSettings {
  const names = Object.keys(SELECTION_SETTINGS) as (keyof SelectionSettings)[];
  return Object.fromEntries(names.map((name) => [name, config[name]])) as SelectionSettings;
}

/** The sampler's options for these settings: the one place a setting becomes behaviour. */
export function selectionOptions(settings: SelectionSettings, how: { random?: Uniform; memo?: ProbabilityMemo } = {}): SelectionOptions {
  return {
    strategy: settings.selection_strategy,
    // Above 1 / arms the floor is capped (uniform choice) by the sampler; a runtime config refuses it.
    trafficFloor: settings.traffic_floor,
    topTwo: settings.selection_policy === "top_two" ? settings.top_two_beta : null,
    leaderVarianceFloor: settings.leader_variance_floor,
    ...(how.random ? { random: how.random } : {}),
    ...(how.memo ? { memo: how.memo } : {}),
  };
}
