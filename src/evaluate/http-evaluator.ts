/**
 * `custom_evaluator: {url}`: an evaluator behind HTTP, for scoring code that lives elsewhere (another service, a
 * Python process). It receives POST {response: {text, body, latency_ms, cost_usd, usage, model}, expected,
 * params, metric, metrics, test_case_id} once per test case and answers {score} (for every custom metric) or
 * {scores: {metric: value}}. Calls retry as target calls do.
 */
import type { JsonValue } from "../json.js";
import { isPlainObject } from "../json.js";
import { fetchWithRetry } from "../target/fetch-retry.js";
import { redact } from "../target/secrets.js";
import type { EnvSource } from "../target/types.js";
import { EvaluatorError, type SdkEvaluator } from "./custom.js";

export interface HttpEvaluatorConfig {
  url: string;
  token_env?: string | undefined;
  timeout_seconds: number;
}

export function httpEvaluator(config: HttpEvaluatorConfig, deps: { env: EnvSource; fetch?: typeof fetch }): SdkEvaluator {
  const evaluator: SdkEvaluator = async (prediction, expected, context) => {
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    const secrets: string[] = [];
    if (config.token_env) {
      const key = deps.env[config.token_env];
      if (!key)
        throw new EvaluatorError(`environment variable ${config.token_env} is not set (named by evaluation.custom_evaluator.token_env)`);
      headers.authorization = `Bearer ${key}`;
      secrets.push(key);
    }
    const body = {
      response: {
        text: prediction.text,
        body: prediction.result,
        latency_ms: prediction.latency_ms,
        cost_usd: prediction.cost_usd,
        usage: prediction.usage,
        model: prediction.model,
      },
      expected,
      params: context.params,
      metric: context.metrics[0] ?? null,
      metrics: context.metrics,
      test_case_id: context.test_case.id,
    } as unknown as JsonValue;
    const exchange = await fetchWithRetry(
      config.url,
      { method: "POST", headers, body: JSON.stringify(body) },
      {
        maxRetries: 3,
        timeoutSeconds: config.timeout_seconds,
        baseDelayMs: 500,
        maxDelayMs: 20_000,
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
      },
    );
    if (!exchange.ok) throw new EvaluatorError(`HTTP evaluator ${config.url}: ${redact(exchange.error, secrets)}`);
    const answer = exchange.body;
    if (isPlainObject(answer) && isPlainObject(answer.scores)) return answer.scores as Record<string, number>;
    if (isPlainObject(answer) && typeof answer.score === "number") return answer.score;
    throw new EvaluatorError(
      `HTTP evaluator ${config.url} answered ${redact(JSON.stringify(answer), secrets).slice(0, 120)}: expected {score} or {scores}`,
    );
  };
  return evaluator;
}
