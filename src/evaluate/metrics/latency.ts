import { clamp01, type Metric, option } from "./metric.js";

const DEFAULT_THRESHOLD_MS = 5000;

/**
 * 1 - latency / threshold, clamped: 1 for an instant answer, 0 at or above the threshold (default 5,000 ms).
 * The seed's `latency_ms` metric and the documented `latency_penalty` type are the same measure.
 */
export const latencyMetric: Metric = {
  id: "latency",
  description: `1 - latency / threshold (ms, default ${DEFAULT_THRESHOLD_MS}), clamped to [0, 1]`,
  score({ response, options }) {
    const threshold = option(options, ["threshold", "threshold_ms", "max_latency_ms"], DEFAULT_THRESHOLD_MS);
    return clamp01(1 - response.latency_ms / threshold);
  },
};
