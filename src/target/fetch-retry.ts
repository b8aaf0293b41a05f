/**
 * One HTTP exchange with retries, shared by every outbound call (the team's API, the judge, embeddings, HTTP
 * evaluators): each attempt times out on its own; 429, 5xx, timeouts and network errors are retried with
 * exponential backoff and jitter, or after what Retry-After says; other 4xx are final. Cancellation (the run's
 * signal) propagates as a throw; every other failure comes back as a value.
 */
import type { JsonValue } from "../json.js";
import { EgressRefused } from "./egress.js";
import { redact } from "./secrets.js";
import { sleep } from "./sleep.js";

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  timeoutSeconds: number;
  baseDelayMs: number;
  maxDelayMs: number;
  fetch?: typeof fetch;
  /** Jitter source; tests pin it. */
  random?: () => number;
  /** How a retry waits; tests record the delays instead. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Scrubbed from what the server says before anything is cut short, so no part of a key survives. */
  secrets?: readonly string[];
}

export type Exchange =
  | { ok: true; status: number; body: JsonValue; latencyMs: number; attempts: number }
  | { ok: false; status: number | null; body: JsonValue; error: string; latencyMs: number; attempts: number };

const RETRY_AFTER_CAP_MS = 60_000;

/** Whether an HTTP status may change if the same request is sent again: a rate limit or a server's failure. */
export const mayPassOnRetry = (status: number) => status === 429 || status >= 500;

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

/** The URL a failed connection was to, without its query (which can hold a key). */
function where(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "the endpoint";
  }
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

export function snippet(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

export async function fetchWithRetry(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<Exchange> {
  const doFetch = policy.fetch ?? fetch;
  const random = policy.random ?? Math.random;
  const wait = policy.sleep ?? sleep;
  let lastError = "no attempt made";
  let lastStatus: number | null = null;
  let lastBody: JsonValue = null;
  let latency = 0;
  for (let attempt = 0; attempt <= policy.maxRetries; attempt++) {
    const timeout = AbortSignal.timeout(policy.timeoutSeconds * 1000);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const started = performance.now();
    let retryDelay: number | null = null;
    try {
      const response = await doFetch(url, { ...init, signal: combined });
      const text = redact(await response.text(), policy.secrets ?? []);
      latency = performance.now() - started;
      lastStatus = response.status;
      lastBody = parseBody(text);
      if (response.ok) return { ok: true, status: response.status, body: lastBody, latencyMs: latency, attempts: attempt + 1 };
      lastError = `HTTP ${response.status}: ${snippet(text)}`;
      if (!mayPassOnRetry(response.status)) {
        return { ok: false, status: response.status, body: lastBody, error: lastError, latencyMs: latency, attempts: attempt + 1 };
      }
      retryDelay = retryAfterMs(response.headers.get("retry-after"));
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error;
      // The policy of runs on the service refused the URL: asking again gets the same answer.
      if (error instanceof EgressRefused) {
        return { ok: false, status: null, body: null, error: error.message, latencyMs: performance.now() - started, attempts: attempt + 1 };
      }
      lastError = redact(`${where(url)}: ${describeFetchError(error, policy.timeoutSeconds, timeout.aborted)}`, policy.secrets ?? []);
    }
    if (attempt < policy.maxRetries) await wait(retryDelay ?? backoffMs(attempt, policy.baseDelayMs, policy.maxDelayMs, random), signal);
  }
  const tries = policy.maxRetries + 1;
  return {
    ok: false,
    status: lastStatus,
    body: lastBody,
    error: `${lastError} (after ${tries} attempt${tries === 1 ? "" : "s"})`,
    latencyMs: latency,
    attempts: tries,
  };
}
