import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { RATE_LIMIT_PERIOD_SECONDS } from "../../src/keys/schema.js";

/** The [[ratelimits]] blocks of wrangler.toml, by binding name (the file is TOML; these blocks are one line each). */
function declaredLimits(): Record<string, { limit: number; period: number }> {
  const toml = readFileSync(fileURLToPath(new URL("../../wrangler.toml", import.meta.url)), "utf8");
  const out: Record<string, { limit: number; period: number }> = {};
  for (const block of toml.split("[[ratelimits]]").slice(1)) {
    const name = block.match(/name\s*=\s*"(\w+)"/)?.[1];
    const simple = block.match(/simple\s*=\s*\{\s*limit\s*=\s*(\d+)\s*,\s*period\s*=\s*(\d+)\s*\}/);
    if (name && simple) out[name] = { limit: Number(simple[1]), period: Number(simple[2]) };
  }
  return out;
}

describe("rate limits", () => {
  it("tell clients to retry after the period wrangler.toml gives each limiter", () => {
    const limits = declaredLimits();
    expect(limits.RUNTIME_RATE_LIMIT?.period).toBe(RATE_LIMIT_PERIOD_SECONDS.runtime);
    expect(limits.ADMIN_RATE_LIMIT?.period).toBe(RATE_LIMIT_PERIOD_SECONDS.admin);
    // Runtime calls are the hot path: a key's allowance per second is far above its admin allowance.
    const perSecond = (l: { limit: number; period: number } | undefined) => (l ? l.limit / l.period : 0);
    expect(perSecond(limits.RUNTIME_RATE_LIMIT)).toBeGreaterThanOrEqual(100 * perSecond(limits.ADMIN_RATE_LIMIT));
  });
});
