import type { ApiConfig, TestCase } from "../config/schema.js";
import type { JsonValue } from "../json.js";
import type { ParamConfig } from "../search/space.js";
import { extractModel, extractText, extractUsage, getPath } from "./extract.js";
import { costOf, type ModelPrice } from "./pricing.js";
import { buildRequest, RequestError, redact, secretValues } from "./request.js";
import { sleep } from "./sleep.js";
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
}

const RETRY_AFTER_CAP_MS = 60_000;

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.min(RETRY_AFTER_CAP_MS, Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.min(RETRY_AFTER_CAP_MS, Math.max(0, date - now));
}

/** Exponential backoff with "equal jitter": half the step is fixed, half random. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const step = Math.min(maxMs, baseMs * 2 ** attempt);
  return step / 2 + random() * (step / 2);
}

function describeFetchError(error: unknown, timeoutSeconds: number, timedOut: boolean): string {
  if (timedOut) return `timed out after ${timeoutSeconds} s`;
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message;
    return detail && !error.message.includes(detail) ? `${error.message} (${detail})` : error.message;
  }
  return String(error);
}

function parseBody(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

function snippet(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** Calls the team's HTTP API: retries with backoff and jitter, honours Retry-After, times out each attempt. */
export function httpTarget(options: HttpTargetOptions): Target {
  const { api, env, maxRetries } = options;
  const doFetch = options.fetch ?? fetch;
  const random = options.random ?? Math.random;
  const wait = options.sleep ?? sleep;
  const timeoutMs = api.request.timeout_seconds * 1000;

  const call = async (params: ParamConfig, testCase: TestCase, signal?: AbortSignal): Promise<TargetResponse> => {
    let request: ReturnType<typeof buildRequest>;
    try {
      request = buildRequest(api, params, testCase, env);
    } catch (error) {
      if (error instanceof RequestError) return failure(error.message, { attempts: 0 });
      throw error;
    }
    let lastError = "no attempt made";
    let lastStatus: number | null = null;
    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
      const started = performance.now();
      let retryDelay: number | null = null;
      try {
        const response = await doFetch(request.url, { ...request.init, signal: combined });
        const text = await response.text();
        const latency = performance.now() - started;
        lastStatus = response.status;
        if (response.status === 429 || response.status >= 500) {
          lastError = `HTTP ${response.status}: ${snippet(text)}`;
          retryDelay = retryAfterMs(response.headers.get("retry-after"));
        } else if (!response.ok) {
          return failure(`HTTP ${response.status}: ${snippet(text)}`, {
            status: response.status,
            body: parseBody(text),
            latency_ms: latency,
            attempts: attempt + 1,
          });
        } else {
          return success(api, parseBody(text), response.status, latency, attempt + 1, params, options.prices);
        }
      } catch (error) {
        if (signal?.aborted) throw signal.reason ?? error;
        lastError = describeFetchError(error, api.request.timeout_seconds, timeout.aborted);
      }
      if (attempt < maxRetries) {
        const delay = retryDelay ?? backoffMs(attempt, api.request.retry_base_delay_ms, api.request.retry_max_delay_ms, random);
        await wait(delay, signal);
      }
    }
    const tries = maxRetries + 1;
    return failure(`${lastError} (after ${tries} attempt${tries === 1 ? "" : "s"})`, { status: lastStatus, attempts: tries });
  };
  // Whatever a server or the runtime says back, a key never reaches a result, a log line or an error.
  return async (params, testCase, signal) => {
    const response = await call(params, testCase, signal);
    const secrets = secretValues(api, env);
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
