import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { clientNetwork, RATE_LIMIT_PERIOD_SECONDS } from "../../src/keys/rate-limits.js";

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

describe("uncached key lookups", () => {
  it("are counted per IPv4 address and per IPv6 /64, however the address is written", () => {
    expect(clientNetwork("203.0.113.9")).toBe("203.0.113.9");
    expect(clientNetwork(undefined)).toBe("local");
    const network = clientNetwork("2001:db8:85a3:12::1");
    expect(network).toBe("2001:db8:85a3:12::/64");
    for (const other of ["2001:0db8:85a3:0012:ffff:1:2:3", "2001:DB8:85A3:12:abcd::", "2001:db8:85a3:12:0:0:0:7"]) {
      expect(clientNetwork(other), other).toBe(network);
    }
    expect(clientNetwork("2001:db8:85a3:13::1")).not.toBe(network);
    expect(clientNetwork("::1")).toBe("0:0:0:0::/64");
  });
});
