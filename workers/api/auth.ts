/**
 * Who may call what, and how often. Every /v1 call presents a key: one of the CONVERGENCE_API_KEY secret's
 * bootstrap keys (admin), or a scoped key made with POST /v1/keys. A runtime key may call only the operations below,
 * on its own systems; everything else needs the admin scope. Each key is rate limited per class of operation, so a
 * burst of admin calls (runs, listings) never throttles select.
 */
import type { MiddlewareHandler } from "hono";
import { clientNetwork, RATE_LIMIT_PERIOD_SECONDS } from "../../src/keys/rate-limits.js";
import { ALL_SYSTEMS } from "../../src/keys/schema.js";
import { sameSecret } from "../../src/keys/secret.js";
import { RUN_HEADER } from "../../src/target/egress.js";
import { type Principal, principalOf } from "../db/keys";
import type { Env } from "../env";
import { ApiError } from "./errors";

/** What a runtime key may call: select, update, reading a decision (each on one system), and the no-op check. */
const RUNTIME_OPERATIONS: readonly { method: string; path: RegExp }[] = [
  { method: "POST", path: /^\/v1\/systems\/([^/]+)\/select$/ },
  { method: "POST", path: /^\/v1\/systems\/([^/]+)\/update$/ },
  { method: "GET", path: /^\/v1\/systems\/([^/]+)\/decisions\/[^/]+$/ },
  { method: "GET", path: /^\/v1\/ping$/ },
];

/** The runtime operation a request is, with the system it acts on (null for ping); null when it needs admin. */
function runtimeOperation(method: string, path: string): { system: string | null } | null {
  const asGet = method === "HEAD" ? "GET" : method;
  for (const operation of RUNTIME_OPERATIONS) {
    if (operation.method !== asGet) continue;
    const match = operation.path.exec(path);
    if (!match) continue;
    if (match[1] === undefined) return { system: null };
    try {
      return { system: decodeURIComponent(match[1]) };
    } catch {
      return null;
    }
  }
  return null;
}

async function withinLimit(limiter: RateLimit | undefined, key: string, period: number): Promise<void> {
  if (!limiter) return;
  const { success } = await limiter.limit({ key });
  if (!success) {
    throw new ApiError(429, "rate_limited", `too many requests for this key: try again in ${period} s`, undefined, {
      "retry-after": String(period),
    });
  }
}

function bootstrapPrincipal(env: Env, presented: string): Principal | null {
  const keys = (env.CONVERGENCE_API_KEY ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);
  // Every bootstrap key is compared, so the time taken does not tell which one (or whether one) matched.
  let index = -1;
  keys.forEach((key, i) => {
    if (sameSecret(key, presented) && index === -1) index = i;
  });
  return index === -1 ? null : { id: `bootstrap-${index}`, scope: "admin", systems: [ALL_SYSTEMS] };
}

export const requireApiKey: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const header = c.req.header("authorization") ?? "";
  const match = header.match(/^Bearer\s+(.+)$/i);
  if (!match) throw new ApiError(401, "unauthorized", "send the API key as 'Authorization: Bearer <key>'");
  const presented = (match[1] as string).trim();
  const principal =
    bootstrapPrincipal(c.env, presented) ??
    (await principalOf(c.env.DB, presented, () =>
      // A key not cached costs a D1 read: bounded per client address, like admin calls.
      withinLimit(c.env.ADMIN_RATE_LIMIT, `lookup:${clientNetwork(c.req.header("cf-connecting-ip"))}`, RATE_LIMIT_PERIOD_SECONDS.admin),
    ));
  if (!principal) {
    if (!c.env.CONVERGENCE_API_KEY?.trim() && !presented.startsWith("cvg_")) {
      throw new ApiError(401, "no_api_key_configured", "this deployment has no API key: set the CONVERGENCE_API_KEY secret");
    }
    throw new ApiError(401, "unauthorized", "the API key is not valid (or was revoked)");
  }

  const operation = runtimeOperation(c.req.method, c.req.path);
  // Every call a run makes carries the run header (src/target/egress.ts). Such a request may use the runtime
  // operations (a team's API may select and update) but nothing else: a run's calls could otherwise start runs
  // that start runs, or write a system whose schedule does, through any host a run may reach. Classified on the
  // same decoded path Hono routes on, so no spelling of a path gets around it.
  if (!operation && c.req.header(RUN_HEADER) !== undefined) {
    throw new ApiError(
      403,
      "run_from_run",
      `this request comes from an optimization run (it carries the ${RUN_HEADER} header): a run may call only select, update and reading a decision, never start runs or change systems or keys`,
    );
  }
  if (operation) {
    await withinLimit(c.env.RUNTIME_RATE_LIMIT, principal.id, RATE_LIMIT_PERIOD_SECONDS.runtime);
  } else {
    await withinLimit(c.env.ADMIN_RATE_LIMIT, principal.id, RATE_LIMIT_PERIOD_SECONDS.admin);
  }
  if (principal.scope !== "admin") {
    if (!operation) {
      throw new ApiError(
        403,
        "forbidden",
        `this key has the runtime scope (select, update and reading a decision); ${c.req.method} ${c.req.path} needs the admin scope`,
      );
    }
    if (operation.system !== null && !principal.systems.includes(ALL_SYSTEMS) && !principal.systems.includes(operation.system)) {
      throw new ApiError(
        403,
        "forbidden",
        `this runtime key is scoped to ${principal.systems.map((s) => `'${s}'`).join(", ")}, not '${operation.system}': that system needs a key with its name in systems, or the admin scope`,
      );
    }
  }
  await next();
};
