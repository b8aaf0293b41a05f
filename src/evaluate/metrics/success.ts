import type { Metric } from "./metric.js";

/** 1 for an answered call (failed calls score 0 on every metric before any metric runs). */
export const successMetric: Metric = {
  id: "success_rate",
  description: "1 when the call succeeded",
  score: ({ response }) => (response.ok ? 1 : 0),
};
