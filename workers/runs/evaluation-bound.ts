/**
 * How long one (candidate, test case) evaluation can take at most, by the config's own timeouts and retries: the
 * target call, then the judge, the embeddings and the HTTP evaluator in turn. An evaluation claimed by a consumer
 * and not reported within it was lost (the consumer died), and the coordinator sends it again.
 */
import type { Config } from "../../src/config/schema.js";

const MARGIN_MS = 10_000;
const CAP_MS = 15 * 60_000;

function callsMs(timeoutSeconds: number, retries: number, maxDelayMs: number): number {
  return timeoutSeconds * 1000 * (retries + 1) + maxDelayMs * retries;
}

export function evaluationBoundMs(config: Config): number {
  const { api, evaluation, optimization } = config;
  let total = api.mock_mode
    ? api.mock_latency_ms
    : callsMs(api.request.timeout_seconds, optimization.execution.max_retries, api.request.retry_max_delay_ms);
  for (const provider of [evaluation.judge, evaluation.embeddings]) {
    if (provider && !api.mock_mode) total += callsMs(provider.timeout_seconds, provider.max_retries, 20_000);
  }
  const evaluator = evaluation.custom_evaluator;
  if (evaluator?.enabled && evaluator.url) total += evaluator.timeout_seconds * 1000;
  return Math.min(CAP_MS, total + MARGIN_MS);
}
