/** Embeddings for cosine_similarity, cached by (model, text): each reference is embedded once per run. */
import { fnv1a64 } from "../search/hash.js";
import type { Provider } from "./providers.js";

export function vectorCosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    dot += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  // Rounding can leave |cos| a hair above 1.
  return na === 0 || nb === 0 ? 0 : Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb)));
}

export function createEmbedder(model: string, provider: Provider) {
  const cache = new Map<string, Promise<number[]>>();
  /** Embed texts; returns their vectors and what the uncached part cost. */
  return async (texts: string[], signal?: AbortSignal): Promise<{ vectors: number[][]; cost_usd: number }> => {
    const keys = texts.map((t) => fnv1a64(`${model}\u0000${t}`));
    const missing = texts.map((text, i) => ({ text, key: keys[i] as string })).filter(({ key }) => !cache.has(key));
    let cost = 0;
    if (missing.length > 0) {
      const call = provider.embed(
        missing.map((m) => m.text),
        signal,
      );
      missing.forEach(({ key }, i) => {
        const vector = call.then((r) => r.vectors[i] as number[]);
        // Whoever awaits it sees a failure; an entry nobody awaits must not crash the process as unhandled.
        vector.catch(() => {});
        cache.set(key, vector);
      });
      try {
        cost = (await call).cost_usd;
      } catch (error) {
        for (const { key } of missing) cache.delete(key);
        throw error;
      }
    }
    return { vectors: await Promise.all(keys.map((k) => cache.get(k) as Promise<number[]>)), cost_usd: cost };
  };
}

export type Embedder = ReturnType<typeof createEmbedder>;
