import type { TokenUsage } from "./types.js";

/** USD per 1,000 tokens. */
export interface ModelPrice {
  input: number;
  output: number;
}

/**
 * List prices (USD per 1K tokens, as published by the providers in 2025) of models teams commonly tune. Matched
 * by the longest prefix of the model name, after any `provider/` prefix, so dated snapshots
 * (`gpt-4o-mini-2024-07-18`) find their family. Unknown models cost 0 and are reported as unpriced.
 */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  "gpt-4o-mini": { input: 0.00015, output: 0.0006 },
  "gpt-4o": { input: 0.0025, output: 0.01 },
  "gpt-4.1-nano": { input: 0.0001, output: 0.0004 },
  "gpt-4.1-mini": { input: 0.0004, output: 0.0016 },
  "gpt-4.1": { input: 0.002, output: 0.008 },
  "gpt-4-turbo": { input: 0.01, output: 0.03 },
  "gpt-4": { input: 0.03, output: 0.06 },
  "gpt-3.5-turbo": { input: 0.0005, output: 0.0015 },
  "o4-mini": { input: 0.0011, output: 0.0044 },
  "o3-mini": { input: 0.0011, output: 0.0044 },
  o3: { input: 0.002, output: 0.008 },
  "claude-3-5-haiku": { input: 0.0008, output: 0.004 },
  "claude-3-5-sonnet": { input: 0.003, output: 0.015 },
  "claude-3-7-sonnet": { input: 0.003, output: 0.015 },
  "claude-sonnet-4": { input: 0.003, output: 0.015 },
  "claude-opus-4": { input: 0.015, output: 0.075 },
  "claude-3-haiku": { input: 0.00025, output: 0.00125 },
  "llama-3.3-70b-versatile": { input: 0.00059, output: 0.00079 },
  "llama-3.1-8b-instant": { input: 0.00005, output: 0.00008 },
  "gemini-2.0-flash": { input: 0.0001, output: 0.0004 },
  "gemini-1.5-flash": { input: 0.000075, output: 0.0003 },
  "gemini-1.5-pro": { input: 0.00125, output: 0.005 },
  // The mock target's models (src/target/mock.ts), so mock runs have real cost trade-offs.
  "mock-small": { input: 0.0001, output: 0.0004 },
  "mock-medium": { input: 0.0005, output: 0.0015 },
  "mock-large": { input: 0.0025, output: 0.01 },
};

export function priceOf(model: string | null, prices: Readonly<Record<string, ModelPrice>> = DEFAULT_PRICES): ModelPrice | null {
  if (!model) return null;
  const name = model.toLowerCase().split("/").pop() ?? "";
  let best: string | null = null;
  for (const key of Object.keys(prices)) {
    if (name.startsWith(key.toLowerCase()) && (best === null || key.length > best.length)) best = key;
  }
  return best ? (prices[best] ?? null) : null;
}

export function costOf(model: string | null, usage: TokenUsage | null, prices?: Readonly<Record<string, ModelPrice>>): number {
  const price = priceOf(model, prices);
  if (!price || !usage) return 0;
  return (usage.input_tokens / 1000) * price.input + (usage.output_tokens / 1000) * price.output;
}
