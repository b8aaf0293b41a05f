import type { ApiConfig, TestCase } from "../config/schema.js";
import type { JsonValue } from "../json.js";
import type { ParamConfig } from "../search/space.js";
import { extractModel, extractText, extractUsage, getPath } from "./extract.js";
import { fetchWithRetry, type RetryPolicy, snippet } from "./fetch-retry.js";
import { costOf, type ModelPrice } from "./pricing.js";
import { buildRequest, RequestError } from "./request.js";
import { apiSecretForms, redact } from "./secrets.js";
import { type EnvSource, failure, type Target, type TargetResponse } from "./types.js";

export interface HttpTargetOptions {
  api: ApiConfig;
  env: EnvSource;
  /** Retries after the first attempt, on 429, 5xx, timeouts and network errors. */
  maxRetries: number;
  fetch?: typeof fetch;
  prices?: Readonly<Record<string, ModelPrice>>;
  /** Jitter source; tests pin it. */
  random?: () => number;
  /** How a retry waits; tests record the delays instead. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Every form of every secret of the run (see secrets.ts): never in an answer text or an error. */
  secrets?: readonly string[];
}

/** Calls the team's HTTP API: retries with backoff and jitter, honours Retry-After, times out each attempt. */
export function httpTarget(options: HttpTargetOptions): Target {
  const { api, env, maxRetries } = options;
  const secrets = options.secrets ?? apiSecretForms(api, env);
  const policy: RetryPolicy = {
    maxRetries,
    timeoutSeconds: api.request.timeout_seconds,
    baseDelayMs: api.request.retry_base_delay_ms,
    maxDelayMs: api.request.retry_max_delay_ms,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    secrets,
  };

  const call = async (params: ParamConfig, testCase: TestCase, signal?: AbortSignal): Promise<TargetResponse> => {
    let request: ReturnType<typeof buildRequest>;
    try {
      request = buildRequest(api, params, testCase, env);
    } catch (error) {
      if (error instanceof RequestError) return failure(error.message, { attempts: 0 });
      throw error;
    }
    const exchange = await fetchWithRetry(request.url, request.init, policy, signal);
    if (!exchange.ok) {
      return failure(exchange.error, {
        status: exchange.status,
        body: exchange.body,
        latency_ms: exchange.latencyMs,
        attempts: exchange.attempts,
      });
    }
    return success(api, exchange.body, exchange.status, exchange.latencyMs, exchange.attempts, params, options.prices);
  };
  // Whatever a server or the runtime says back, a key never reaches a result, a log line or an error.
  return async (params, testCase, signal) => {
    const response = await call(params, testCase, signal);
    if (secrets.length === 0) return response;
    return { ...response, text: redact(response.text, secrets), error: response.error === null ? null : redact(response.error, secrets) };
  };
}

function success(
  api: ApiConfig,
  body: JsonValue,
  status: number,
  latency: number,
  attempts: number,
  params: ParamConfig,
  prices?: Readonly<Record<string, ModelPrice>>,
): TargetResponse {
  const { success_field, error_field, result_field } = api.response;
  if (error_field) {
    const error = getPath(body, error_field);
    if (error !== undefined && error !== null && error !== false && error !== "") {
      const message = typeof error === "string" ? error : JSON.stringify(error);
      return failure(`response ${error_field}: ${snippet(message)}`, { status, body, latency_ms: latency, attempts });
    }
  }
  if (success_field) {
    const value = getPath(body, success_field);
    if (value === undefined || value === null || value === false || value === "" || /^(failed|error|cancelled)$/i.test(String(value))) {
      return failure(`response ${success_field} is ${value === undefined ? "missing" : JSON.stringify(value)}`, {
        status,
        body,
        latency_ms: latency,
        attempts,
      });
    }
  }
  const usage = extractUsage(body);
  // Price by the model that answered, else by the model that was asked for.
  const model = extractModel(body) ?? (typeof params.model === "string" ? params.model : null);
  return {
    ok: true,
    status,
    body,
    text: extractText(body, result_field),
    latency_ms: latency,
    usage,
    model,
    cost_usd: costOf(model, usage, prices),
    error: null,
    attempts,
  };
}
