import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { KeyListSchema } from "../../src/keys/schema.js";
import { RunListSchema } from "../../src/run/schema.js";
import { DecisionListSchema, SystemListSchema } from "../../src/runtime/schema.js";
import { call, callJson, flushLog, putSystem, THREE_ARMS } from "./helpers";

type Page = { next_cursor: string | null } & Record<string, unknown>;

/**
 * Every page of a listing, following next_cursor from the first page; `between` runs after each page is read
 * (to write while a client pages). Each answer is checked against `schema`, the route's own.
 */
async function pageThrough<T>(
  path: string,
  field: string,
  schema: { safeParse(value: unknown): { success: boolean } },
  between: (page: number) => Promise<void> = async () => {},
): Promise<{ items: T[]; pages: T[][] }> {
  const pages: T[][] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes("?") ? "&" : "?";
    const from: string = cursor === null ? "" : `${separator}cursor=${encodeURIComponent(cursor)}`;
    const { status, body }: { status: number; body: Page } = await callJson<Page>("GET", `${path}${from}`);
    expect(status, JSON.stringify(body)).toBe(200);
    expect(schema.safeParse(body).success).toBe(true);
    pages.push(body[field] as T[]);
    cursor = body.next_cursor;
    if (pages.length > 1000) throw new Error(`${path}: more than 1,000 pages`);
    await between(pages.length);
  } while (cursor !== null);
  return { items: pages.flat(), pages };
}

const iso = (ms: number) => new Date(ms).toISOString();
const BASE = Date.parse("2026-03-01T00:00:00.000Z");

async function insertSystems(names: readonly string[], updatedAt: (i: number) => string): Promise<void> {
  const statement = env.DB.prepare("INSERT INTO systems (name, config, version, created_at, updated_at) VALUES (?, ?, 1, ?, ?)");
  const config = JSON.stringify({ default_arms: [{ arm_id: "a" }, { arm_id: "b" }] });
  await env.DB.batch(names.map((name, i) => statement.bind(name, config, updatedAt(i), updatedAt(i))));
}

interface DecisionInsert {
  id: string;
  user: string;
  at: string;
}

async function insertDecisions(system: string, rows: readonly DecisionInsert[]): Promise<void> {
  const statement = env.DB.prepare(
    `INSERT INTO decisions (decision_id, system, agent_type, user_id, arm_id, params, selection_probability, context, created_at)
     VALUES (?, ?, 'default', ?, 'a', '{"k":1}', 0.5, '{"page":"home"}', ?)`,
  );
  await env.DB.batch(rows.map((r) => statement.bind(r.id, system, r.user, r.at)));
}

/** Newest first, ties by the id (descending): the order every listing answers in. */
const newestFirst =
  <T>(at: (item: T) => string, id: (item: T) => string) =>
  (a: T, b: T) =>
    at(b).localeCompare(at(a)) || id(b).localeCompare(id(a));

describe("GET /v1/systems pages with a cursor", () => {
  it("pages through 600 systems: each exactly once, most recently changed first, the last page's next_cursor null", async () => {
    // Three systems share each updated_at, so the order within a time (by name) is what a page boundary splits.
    const names = Array.from({ length: 600 }, (_, i) => `paged_${String(i).padStart(3, "0")}`);
    await insertSystems(names, (i) => iso(BASE + Math.floor(i / 3)));
    const expected = names
      .map((name, i) => ({ name, at: iso(BASE + Math.floor(i / 3)) }))
      .sort(
        newestFirst(
          (s) => s.at,
          (s) => s.name,
        ),
      )
      .map((s) => s.name);

    const small = await pageThrough<{ system: string }>("/v1/systems?limit=7", "systems", SystemListSchema);
    const listed = small.items.map((s) => s.system).filter((name) => name.startsWith("paged_"));
    expect(listed).toEqual(expected);
    expect(new Set(small.items.map((s) => s.system)).size).toBe(small.items.length);
    expect(small.pages.every((page) => page.length <= 7 && page.length > 0)).toBe(true);

    // The default page is 100; the most a page holds, 500.
    const byDefault = await pageThrough<{ system: string }>("/v1/systems", "systems", SystemListSchema);
    expect(byDefault.pages[0]).toHaveLength(100);
    expect(byDefault.items.map((s) => s.system).filter((name) => name.startsWith("paged_"))).toEqual(expected);
    const widest = await pageThrough<{ system: string }>("/v1/systems?limit=500", "systems", SystemListSchema);
    expect(widest.pages.map((p) => p.length)).toEqual([500, widest.items.length - 500]);
  });

  it("lists a system just written through the API first, with its fields", async () => {
    await putSystem("listed_one", { ...THREE_ARMS, agent_type: "chat" });
    const { body } = await callJson<{ systems: unknown[]; next_cursor: string | null }>("GET", "/v1/systems?limit=1");
    expect(body.systems).toEqual([expect.objectContaining({ system: "listed_one", agent_type: "chat", arms: 3, version: 1 })]);
    expect(body.next_cursor).toEqual(expect.any(String));
  });
});

describe("GET /v1/runs pages with a cursor", () => {
  it("pages through the runs newest first, of one system too (scheduled for it or promoted into it), each once", async () => {
    const statement = env.DB.prepare(
      `INSERT INTO runs (run_id, api_name, status, algorithm, seed, trigger, system, created_at, updated_at)
       VALUES (?, 'api', 'succeeded', 'evolution', 1, 'api', ?, ?, ?)`,
    );
    const runs = Array.from({ length: 23 }, (_, i) => ({
      run_id: `paged_run_${String(i).padStart(2, "0")}`,
      system: i % 3 === 0 ? "runs_of_a" : null,
      // Pairs share a time: the id orders them.
      at: iso(BASE + Math.floor(i / 2) * 1000),
    }));
    await env.DB.batch(runs.map((r) => statement.bind(r.run_id, r.system, r.at, r.at)));
    // Every fourth run was promoted into runs_of_a too: those scheduled for it (0, 12) are still listed once.
    const promotedIntoA = runs.filter((_, i) => i % 4 === 0);
    const promotion = env.DB.prepare(
      "INSERT INTO run_promotions (run_id, system, run_created_at, promoted_at) VALUES (?, 'runs_of_a', ?, ?)",
    );
    await env.DB.batch(promotedIntoA.map((r) => promotion.bind(r.run_id, r.at, r.at)));
    const ofAExpected = runs.filter((r, i) => r.system === "runs_of_a" || i % 4 === 0);
    const order = [...runs].sort(
      newestFirst(
        (r) => r.at,
        (r) => r.run_id,
      ),
    );

    const all = await pageThrough<{ run_id: string }>("/v1/runs?limit=4", "runs", RunListSchema);
    expect(all.items.map((r) => r.run_id).filter((id) => id.startsWith("paged_run_"))).toEqual(order.map((r) => r.run_id));
    expect(all.pages.every((p) => p.length <= 4)).toBe(true);

    const ofA = await pageThrough<{ run_id: string; system: string }>("/v1/runs?limit=3&system=runs_of_a", "runs", RunListSchema);
    expect(ofA.items.map((r) => r.run_id).filter((id) => id.startsWith("paged_run_"))).toEqual(
      order.filter((r) => ofAExpected.includes(r)).map((r) => r.run_id),
    );
    // One page that holds them all is the last: 8 scheduled for the system, 6 promoted into it, 2 of them both.
    const whole = await callJson<{ runs: unknown[]; next_cursor: string | null }>("GET", "/v1/runs?limit=500&system=runs_of_a");
    expect(whole.body).toMatchObject({ runs: expect.any(Array), next_cursor: null });
    expect(whole.body.runs).toHaveLength(12);
  });
});

describe("GET /v1/keys pages with a cursor", () => {
  it("pages through the keys newest first, each once, revoked ones included", async () => {
    const made: string[] = [];
    for (let i = 0; i < 12; i++) {
      const created = await callJson<{ id: string }>("POST", "/v1/keys", { scope: "runtime", name: `paged key ${i}` });
      expect(created.status).toBe(201);
      made.push(created.body.id);
    }
    expect((await call("DELETE", `/v1/keys/${made[4]}`)).status).toBe(200);
    const { items, pages } = await pageThrough<{ id: string; created_at: string; revoked_at: string | null }>(
      "/v1/keys?limit=5",
      "keys",
      KeyListSchema,
    );
    expect(pages.every((p) => p.length <= 5)).toBe(true);
    expect(new Set(items.map((k) => k.id)).size).toBe(items.length);
    expect(items.map((k) => k.id).filter((id) => made.includes(id))).toHaveLength(made.length);
    expect(items).toEqual(
      [...items].sort(
        newestFirst(
          (k) => k.created_at,
          (k) => k.id,
        ),
      ),
    );
    expect(items.find((k) => k.id === made[4])?.revoked_at).toEqual(expect.any(String));
  });
});

describe("a cursor that is not one", () => {
  const base64url = (text: string) => btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

  it("is a 400 in the error format naming cursor, on every listing, never a 500", async () => {
    await putSystem("cursor_checks", THREE_ARMS);
    await insertSystems(["cursor_a", "cursor_b"], (i) => iso(BASE + i));
    const systemsCursor = (await callJson<{ next_cursor: string }>("GET", "/v1/systems?limit=1")).body.next_cursor;
    expect(systemsCursor).toEqual(expect.any(String));
    const position = JSON.parse(atob(systemsCursor.replace(/-/g, "+").replace(/_/g, "/"))) as { after: [string, string] };
    const bad = {
      "not base64url": "!!!",
      "base64url of no JSON": base64url("position 12"),
      "JSON of another shape": base64url(JSON.stringify({ listing: "systems", after: 12 })),
      "a timestamp that is none": base64url(JSON.stringify({ listing: "systems", after: ["yesterday", "cursor_a"] })),
      "a position with more": base64url(JSON.stringify({ listing: "systems", after: position.after, offset: 3 })),
      "too long": "A".repeat(2000),
      "bytes that are not UTF-8": "_-_-",
    };
    for (const [what, cursor] of Object.entries(bad)) {
      for (const path of ["/v1/systems", "/v1/runs", "/v1/keys", "/v1/systems/cursor_checks/decisions"]) {
        const response = await callJson<{ error: { code: string; message: string; details: { path: string; message: string }[] } }>(
          "GET",
          `${path}?cursor=${encodeURIComponent(cursor)}`,
        );
        expect(response.status, `${what} on ${path}`).toBe(400);
        expect(response.body.error.code).toBe("invalid_request");
        expect(response.body.error.message).toContain("cursor");
        expect(response.body.error.details.map((d) => d.path)).toEqual(["query.cursor"]);
      }
    }
    // A cursor of one listing is not a cursor of another.
    for (const path of ["/v1/runs", "/v1/keys", "/v1/systems/cursor_checks/decisions"]) {
      const response = await callJson<{ error: { message: string } }>("GET", `${path}?cursor=${systemsCursor}`);
      expect(response.status).toBe(400);
      expect(response.body.error.message).toContain("not a cursor of this listing");
    }
    // A position edited by hand is still a position: a page from there, not an error.
    const edited = base64url(JSON.stringify({ listing: "systems", after: ["2026-03-01T00:00:00.001Z", "cursor_b"] }));
    const from = await callJson<{ systems: { system: string }[] }>("GET", `/v1/systems?limit=500&cursor=${edited}`);
    expect(from.status).toBe(200);
    expect(from.body.systems.map((s) => s.system)).toContain("cursor_a");

    for (const limit of ["0", "501", "ten", "2.5"]) {
      const response = await callJson<{ error: { details: { path: string }[] } }>("GET", `/v1/systems?limit=${limit}`);
      expect(response.status, `limit=${limit}`).toBe(400);
      expect(response.body.error.details.map((d) => d.path)).toEqual(["query.limit"]);
    }
  });
});

describe("GET /v1/systems/{system}/decisions", () => {
  it("pages through the log newest first without a gap or a repeat while new decisions arrive between pages", async () => {
    await putSystem("log_paged", THREE_ARMS);
    // 45 decisions of 3 users, three to a millisecond.
    const first = Array.from({ length: 45 }, (_, i) => ({
      id: `default~tag~${String(i).padStart(4, "0")}`,
      user: `user_${i % 3}`,
      at: iso(BASE + Math.floor(i / 3)),
    }));
    await insertDecisions("log_paged", first);
    const expected = [...first].sort(
      newestFirst(
        (d) => d.at,
        (d) => d.id,
      ),
    );
    let arrived = 0;
    const arrive = async () => {
      // Newer than anything listed so far, as a live log's are; one shares the newest time of the first page.
      const at = arrived === 0 ? (expected[0]?.at ?? iso(BASE)) : iso(BASE + 100_000 + arrived);
      await insertDecisions("log_paged", [{ id: `default~tag~new${arrived}`, user: "user_0", at }]);
      arrived++;
    };
    const { items, pages } = await pageThrough<{ decision_id: string }>(
      "/v1/systems/log_paged/decisions?limit=4",
      "decisions",
      DecisionListSchema,
      arrive,
    );
    expect(items.map((d) => d.decision_id)).toEqual(expected.map((d) => d.id));
    expect(pages).toHaveLength(12);
    expect(arrived).toBe(12);

    // A new listing starts from the newest: the decisions that arrived come first.
    const fresh = await callJson<{ decisions: { decision_id: string }[] }>("GET", "/v1/systems/log_paged/decisions?limit=1");
    expect(fresh.body.decisions[0]?.decision_id).toBe("default~tag~new11");

    // One user's, the same way.
    const ofUser = await pageThrough<{ decision_id: string; user_id: string }>(
      "/v1/systems/log_paged/decisions?limit=5&user_id=user_1",
      "decisions",
      DecisionListSchema,
    );
    expect(ofUser.items.map((d) => d.decision_id)).toEqual(expected.filter((d) => d.user === "user_1").map((d) => d.id));
    expect(ofUser.items[0]).toMatchObject({ user_id: "user_1", params: { k: 1 }, context: { page: "home" }, reward: null });
  });

  it("lists decisions made with select once the log carries them to D1, rewards included, with no gap or repeat", async () => {
    await putSystem("log_live", THREE_ARMS);
    const users = ["ann", "bob", "cy"];
    const select = async (user: string) =>
      (await callJson<{ decision_id: string; arm_id: string }>("POST", "/v1/systems/log_live/select", { user_id: user, context: { n: 1 } }))
        .body;
    /** A round of decisions, one per user, carried to D1 by the objects' and the log shards' alarms. */
    const round = async () => {
      const made = [];
      for (const user of users) made.push({ user, ...(await select(user)) });
      await flushLog("log_live", users);
      return made;
    };
    const before = [];
    for (let i = 0; i < 4; i++) before.push(...(await round()));
    const rewarded = before[0] as { user: string; decision_id: string };
    await callJson("POST", "/v1/systems/log_live/update", { user_id: rewarded.user, decision_id: rewarded.decision_id, reward: 0.7 });
    await flushLog("log_live", [rewarded.user]);

    const whole = await callJson<{ decisions: { decision_id: string }[]; next_cursor: null }>(
      "GET",
      "/v1/systems/log_live/decisions?limit=500",
    );
    expect(whole.body.decisions).toHaveLength(12);
    const { items } = await pageThrough<{ decision_id: string; reward: number | null; reward_source: string | null }>(
      "/v1/systems/log_live/decisions?limit=5",
      "decisions",
      DecisionListSchema,
      async () => void (await round()),
    );
    expect(items.map((d) => d.decision_id)).toEqual(whole.body.decisions.map((d) => d.decision_id));
    expect(new Set(items.map((d) => d.decision_id))).toEqual(new Set(before.map((d) => d.decision_id)));
    expect(items.find((d) => d.decision_id === rewarded.decision_id)).toMatchObject({ reward: 0.7, reward_source: "update" });
  });

  it("answers 404 for an unknown system, and needs the admin scope", async () => {
    const unknown = await callJson<{ error: { code: string } }>("GET", "/v1/systems/no_such_log/decisions");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("unknown_system");

    await putSystem("log_scoped", THREE_ARMS);
    const created = await callJson<{ key: string }>("POST", "/v1/keys", { scope: "runtime", systems: ["log_scoped"] });
    const runtime = { authorization: `Bearer ${created.body.key}` };
    const listing = await call("GET", "/v1/systems/log_scoped/decisions", undefined, runtime);
    expect(listing.status).toBe(403);
    expect(((await listing.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    // One of its own decisions it may still read.
    const selected = (await (await call("POST", "/v1/systems/log_scoped/select", { user_id: "u" }, runtime)).json()) as {
      decision_id: string;
    };
    const one = await call(
      "GET",
      `/v1/systems/log_scoped/decisions/${encodeURIComponent(selected.decision_id)}?user_id=u`,
      undefined,
      runtime,
    );
    expect(one.status).toBe(200);
  });
});
