/** How calls are counted against a key's allowance (workers/api/auth.ts applies it with the Workers limiters). */

/**
 * Each key is rate limited per class of call (runtime: select, update, reading a decision; admin: every other), and
 * a refused call says when to retry: the `period` of the class's [[ratelimits]] binding in wrangler.toml.
 */
export const RATE_LIMIT_PERIOD_SECONDS = { runtime: 10, admin: 60 } as const;

/**
 * Whom to count uncached key lookups against: the client's address, or for IPv6 its /64, which one client holds
 * whole (counting single IPv6 addresses would let it rotate through 2^64 of them).
 */
export function clientNetwork(address: string | undefined): string {
  if (!address) return "local";
  if (!address.includes(":")) return address;
  const [head = "", tail = ""] = address.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}
