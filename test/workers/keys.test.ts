import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../src/keys/secret.js";
import { call, callJson, putSystem, THREE_ARMS } from "./helpers";

const as = (key: string) => ({ authorization: `Bearer ${key}` });

async function createKey(body: unknown): Promise<{ id: string; key: string; scope: string; systems: string[] }> {
  const response = await call("POST", "/v1/keys", body);
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; key: string; scope: string; systems: string[] };
}

async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  return ((await response.json()) as { error: { code: string; message: string } }).error;
}

describe("scoped API keys", () => {
  it("shows a new key once, lists keys without it, and stores only its SHA-256", async () => {
    const created = await createKey({ scope: "runtime", systems: ["shop"], name: "storefront app" });
    expect(created).toMatchObject({ scope: "runtime", systems: ["shop"], name: "storefront app" });
    expect(created.key).toMatch(/^cvg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(created.id).toMatch(/^key_[0-9a-f]{16}$/);

    const listed = await callJson<{ keys: Record<string, unknown>[] }>("GET", "/v1/keys");
    const mine = listed.body.keys.find((k) => k.id === created.id);
    expect(mine).toMatchObject({ scope: "runtime", systems: ["shop"], name: "storefront app", revoked_at: null });
    expect(JSON.stringify(listed.body)).not.toContain(created.key);
    expect(JSON.stringify(listed.body)).not.toContain(await hashKey(created.key));

    const rows = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?").bind(created.id).all<Record<string, unknown>>();
    expect(rows.results).toHaveLength(1);
    const row = rows.results[0] as Record<string, unknown>;
    expect(row.key_hash).toBe(await hashKey(created.key));
    expect(Object.values(row).some((v) => typeof v === "string" && v.includes(created.key.slice(21)))).toBe(false);
  });

  it("lets a runtime key select, update and read decisions on its systems only", async () => {
    await putSystem("shop", THREE_ARMS);
    await putSystem("billing", THREE_ARMS);
    const { key } = await createKey({ scope: "runtime", systems: ["shop"] });

    const selected = await call("POST", "/v1/systems/shop/select", { user_id: "u1" }, as(key));
    expect(selected.status).toBe(200);
    const { decision_id } = (await selected.json()) as { decision_id: string };
    const updated = await call("POST", "/v1/systems/shop/update", { user_id: "u1", decision_id, reward: 1 }, as(key));
    expect(updated.status).toBe(200);
    const decision = await call("GET", `/v1/systems/shop/decisions/${encodeURIComponent(decision_id)}?user_id=u1`, undefined, as(key));
    expect(decision.status).toBe(200);
    expect(((await decision.json()) as { reward: number }).reward).toBe(1);

    const elsewhere = await call("POST", "/v1/systems/billing/select", { user_id: "u1" }, as(key));
    expect(elsewhere.status).toBe(403);
    const error = await errorOf(elsewhere);
    expect(error.code).toBe("forbidden");
    expect(error.message).toContain("'billing'");
    // Nothing was decided for the other system.
    const logged = await env.DB.prepare("SELECT COUNT(*) AS n FROM decisions WHERE system = 'billing'").first<{ n: number }>();
    expect(logged?.n ?? 0).toBe(0);
  });

  it("refuses a runtime key on every other route the API describes, naming the admin scope", async () => {
    await putSystem("shop", THREE_ARMS);
    const { key } = await createKey({ scope: "runtime", systems: ["*"] });
    const doc = (await (await call("GET", "/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
    const runtime = new Set([
      "post /v1/systems/{system}/select",
      "post /v1/systems/{system}/update",
      "get /v1/systems/{system}/decisions/{decision_id}",
      "get /v1/ping",
    ]);
    let checked = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      if (!path.startsWith("/v1/")) continue;
      for (const method of Object.keys(operations)) {
        if (runtime.has(`${method} ${path}`)) continue;
        const concrete = path.replace("{system}", "shop").replace("{run_id}", "run-1").replace("{key_id}", "key_0123456789abcdef");
        const response = await call(method.toUpperCase(), concrete, ["post", "put"].includes(method) ? {} : undefined, as(key));
        expect(response.status, `${method} ${path}`).toBe(403);
        const error = await errorOf(response);
        expect(error.code).toBe("forbidden");
        expect(error.message).toContain("needs the admin scope");
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(14);
    // An admin route refused wrote nothing: no run was recorded.
    const runs = await env.DB.prepare("SELECT COUNT(*) AS n FROM runs").first<{ n: number }>();
    expect(runs?.n).toBe(0);
  });

  it("refuses a revoked key on the next request", async () => {
    await putSystem("shop", THREE_ARMS);
    const created = await createKey({ scope: "runtime" });
    expect(created.systems).toEqual(["*"]);
    expect((await call("POST", "/v1/systems/shop/select", { user_id: "u2" }, as(created.key))).status).toBe(200);

    const revoked = await callJson<{ id: string; revoked_at: string | null }>("DELETE", `/v1/keys/${created.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).toEqual(expect.any(String));
    const after = await call("POST", "/v1/systems/shop/select", { user_id: "u2" }, as(created.key));
    expect(after.status).toBe(401);
    expect((await errorOf(after)).message).toContain("revoked");
    expect((await call("DELETE", "/v1/keys/key_ffffffffffffffff")).status).toBe(404);
  });

  it("lets an admin key made with POST /v1/keys do everything, and refuses wrong keys", async () => {
    const { key } = await createKey({ scope: "admin", name: "ops" });
    expect((await call("GET", "/v1/keys", undefined, as(key))).status).toBe(200);
    const second = await call("POST", "/v1/keys", { scope: "runtime", systems: ["shop"] }, as(key));
    expect(second.status).toBe(201);
    // A known id with another secret, and the right form with an unknown id.
    const forged = `${key.slice(0, 21)}${"A".repeat(43)}`;
    expect((await call("GET", "/v1/keys", undefined, as(forged))).status).toBe(401);
    expect((await call("GET", "/v1/keys", undefined, as(`cvg_0000000000000000_${"B".repeat(43)}`))).status).toBe(401);
  });

  it("refuses bad key requests with the field named", async () => {
    for (const [body, field] of [
      [{ scope: "owner" }, "scope"],
      [{ scope: "admin", systems: ["shop"] }, "systems"],
      [{ scope: "runtime", systems: [] }, "systems"],
      [{ scope: "runtime", systems: ["*", "shop"] }, "systems"],
      [{ scope: "runtime", systems: ["../x"] }, "systems"],
      [{ scope: "runtime", sytems: ["shop"] }, "sytems"],
    ] as const) {
      const response = await call("POST", "/v1/keys", body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect((await errorOf(response)).message).toContain(field);
    }
  });

  it("rate limits each key, admin calls apart from runtime calls, with Retry-After", async () => {
    // The deployment's own limiters (wrangler.toml) are bound too; the test swaps in a tight one to reach its limit.
    expect(env.RUNTIME_RATE_LIMIT).toBeDefined();
    expect(env.ADMIN_RATE_LIMIT).toBeDefined();
    await putSystem("shop", THREE_ARMS);
    const { key } = await createKey({ scope: "admin" });
    const tight = { ADMIN_RATE_LIMIT: env.TIGHT_RATE_LIMIT };
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await call("GET", "/v1/systems", undefined, as(key), tight)).status);
    expect(statuses).toEqual([200, 200, 200]);
    const limited = await call("GET", "/v1/systems", undefined, as(key), tight);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("60");
    expect((await errorOf(limited)).code).toBe("rate_limited");
    // Runs and listings exhausted the admin limit; select is counted apart.
    const select = await call("POST", "/v1/systems/shop/select", { user_id: "u3" }, as(key), tight);
    expect(select.status).toBe(200);
    // Another key has its own allowance.
    const other = await createKey({ scope: "admin" });
    expect((await call("GET", "/v1/systems", undefined, as(other.key), tight)).status).toBe(200);
  });
});
