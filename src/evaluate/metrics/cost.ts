import { clamp01, type Metric, option } from "./metric.js";

function costMetric(id: string, defaultBudget: number): Metric {
  return {
    id,
    description: `1 - cost / budget_per_call (USD, default ${defaultBudget}), clamped to [0, 1]`,
    score({ response, options }) {
      const budget = option(options, ["budget_per_call", "budget", "max_cost_usd"], defaultBudget);
      return clamp01(1 - response.cost_usd / budget);
    },
  };
}

/** `type: cost_normalized`: a call at the budget (default 0.01 USD) scores 0. */
export const costNormalizedMetric = costMetric("cost_normalized", 0.01);
/** The seed's `cost_usd` metric (budget default 1 USD, as in the reference), also `cost_per_call`. */
export const costUsdMetric = costMetric("cost_usd", 1);
