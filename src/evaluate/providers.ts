/**
 * The model services evaluation calls: chat completions (the judge) and embeddings, over an OpenAI-compatible HTTP
 * endpoint or the worker's Workers AI binding. Calls retry as target calls do; keys are read from the environment
 * at call time and scrubbed from every error.
 */
import type { ProviderConfig } from "../config/schema.js";
import { isPlainObject, type JsonValue } from "../json.js";
import { extractText, extractUsage } from "../target/extract.js";
import { backoffMs, fetchWithRetry, type RetryPolicy } from "../target/fetch-retry.js";
import { costOf, type ModelPrice } from "../target/pricing.js";
import { redact } from "../target/secrets.js";
import { sleep } from "../target/sleep.js";
import type { EnvSource, TokenUsage } from "../target/types.js";

/** The Workers AI binding, as much of it as we use. */
export interface AiBinding {
  run(model: string, input: Record<string, unknown>): Promise<unknown>;
}

export interface ProviderDeps {
  env: EnvSource;
  fetch?: typeof fetch;
  ai?: AiBinding;
  prices?: Readonly<Record<string, ModelPrice>>;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Every form of every secret of the run: scrubbed from what the provider says. */
  secrets?: readonly string[];
}

export class ProviderError extends Error {}

export interface ChatMessage {
  role: "system" | "user";
  content: string;
}

interface ChatResult {
  text: string;
  usage: TokenUsage | null;
  cost_usd: number;
  attempts: number;
}

interface EmbedResult {
  vectors: number[][];
  cost_usd: number;
}

export interface Provider {
  chat(messages: ChatMessage[], options?: { json?: boolean; signal?: AbortSignal; sampling?: Sampling }): Promise<ChatResult>;
  embed(texts: string[], signal?: AbortSignal): Promise<EmbedResult>;
}

/** How a chat is sampled; without it, temperature 0 and the model's own length limit (the judge's settings). */
export interface Sampling {
  temperature: number;
  /** The most tokens the reply may hold: what bounds a reply's size and cost. */
  max_tokens: number;
}

export function createProvider(config: ProviderConfig, deps: ProviderDeps, setting: string): Provider {
  if (config.provider === "workers-ai") return workersAi(config, deps, setting);
  return openAiCompatible(config, deps, setting);
}

function openAiCompatible(config: ProviderConfig, deps: ProviderDeps, setting: string): Provider {
  const endpoint = config.endpoint;
  if (!endpoint) throw new ProviderError(`${setting}.endpoint is required for provider openai`);
  const policy: RetryPolicy = {
    maxRetries: config.max_retries,
    timeoutSeconds: config.timeout_seconds,
    baseDelayMs: 500,
    maxDelayMs: 20_000,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    secrets: deps.secrets ?? [],
  };
  const post = async (body: Record<string, JsonValue>, signal?: AbortSignal) => {
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (config.token_env) {
      const key = deps.env[config.token_env];
      if (!key) throw new ProviderError(`environment variable ${config.token_env} is not set (named by ${setting}.token_env)`);
      headers.authorization = `Bearer ${key}`;
    }
    const secrets = [...(deps.secrets ?? []), ...(headers.authorization ? [headers.authorization.slice(7)] : [])];
    const exchange = await fetchWithRetry(
      endpoint,
      { method: "POST", headers, body: JSON.stringify(body) },
      { ...policy, secrets },
      signal,
    );
    if (!exchange.ok) throw new ProviderError(`${setting}: ${redact(exchange.error, secrets)}`);
    return exchange;
  };
  return {
    async chat(messages, options = {}) {
      const exchange = await post(
        {
          model: config.model,
          temperature: options.sampling?.temperature ?? 0,
          ...(options.sampling ? { max_tokens: options.sampling.max_tokens } : {}),
          messages: messages as unknown as JsonValue,
          ...(options.json ? { response_format: { type: "json_object" } } : {}),
        },
        options.signal,
      );
      const usage = extractUsage(exchange.body);
      return { text: extractText(exchange.body), usage, cost_usd: costOf(config.model, usage, deps.prices), attempts: exchange.attempts };
    },
    async embed(texts, signal) {
      const exchange = await post({ model: config.model, input: texts }, signal);
      const data = isPlainObject(exchange.body) && Array.isArray(exchange.body.data) ? exchange.body.data : null;
      const vectors = data
        ?.slice()
        .sort((a, b) => Number(isPlainObject(a) ? a.index : 0) - Number(isPlainObject(b) ? b.index : 0))
        .map((item) => (isPlainObject(item) ? item.embedding : null));
      return {
        vectors: checkVectors(vectors ?? null, texts.length, setting),
        cost_usd: costOf(config.model, extractUsage(exchange.body), deps.prices),
      };
    },
  };
}

function workersAi(config: ProviderConfig, deps: ProviderDeps, setting: string): Provider {
  const ai = deps.ai;
  if (!ai) throw new ProviderError(`${setting}.provider workers-ai needs the worker's AI binding: it works inside the Convergence worker`);
  const wait = deps.sleep ?? sleep;
  const random = deps.random ?? Math.random;
  /** Workers AI fails transiently (capacity, timeouts): retried with backoff like any other call. */
  const run = async (input: Record<string, unknown>): Promise<unknown> => {
    let last: unknown;
    for (let attempt = 0; attempt <= config.max_retries; attempt++) {
      try {
        return await ai.run(config.model, input);
      } catch (error) {
        last = error;
        if (attempt < config.max_retries) await wait(backoffMs(attempt, 500, 20_000, random));
      }
    }
    const message = last instanceof Error ? last.message : String(last);
    throw new ProviderError(
      `${setting}: Workers AI ${config.model} failed after ${config.max_retries + 1} attempts: ${redact(message, deps.secrets ?? [])}`,
    );
  };
  return {
    async chat(messages, options = {}) {
      const out = await run({ messages, ...(options.sampling ?? {}) });
      const text = isPlainObject(out) && typeof out.response === "string" ? out.response : extractText(out);
      return { text, usage: extractUsage(out), cost_usd: 0, attempts: 1 };
    },
    async embed(texts) {
      const out = await run({ text: texts });
      const data = isPlainObject(out) && Array.isArray(out.data) ? out.data : null;
      return { vectors: checkVectors(data, texts.length, setting), cost_usd: 0 };
    },
  };
}

/** Embeddings must be one vector of finite numbers per input, all of one length. */
function checkVectors(data: readonly unknown[] | null, count: number, setting: string): number[][] {
  if (!data || data.length !== count) throw new ProviderError(`${setting}: the embeddings response has no vector for every input`);
  const length = Array.isArray(data[0]) ? data[0].length : 0;
  for (const v of data) {
    if (!Array.isArray(v) || v.length !== length || length === 0 || !v.every((x) => typeof x === "number" && Number.isFinite(x))) {
      throw new ProviderError(`${setting}: the embeddings response has a vector that is not ${length} finite numbers`);
    }
  }
  return data as number[][];
}
