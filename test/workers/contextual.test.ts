import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RuntimeConfigInput } from "../../src/runtime/schema.js";
import { CONTEXT_CELLS_QUERY, refreshPopulations } from "../../workers/db/population";
import { call, callJson, flushLog, putSystem, withSeededRandom } from "./helpers";

/** Two contexts that prefer different arms: "bold" wins on search pages, "careful" on chat pages. */
const RATES: Record<string, Record<string, number>> = {
  search: { bold: 0.8, careful: 0.3 },
  chat: { bold: 0.25, careful: 0.75 },
};

const CONTEXTUAL: RuntimeConfigInput = {
  cache_ttl_seconds: 0,
  default_arms: [
    { arm_id: "bold", params: { temperature: 0.9 } },
    { arm_id: "careful", params: { temperature: 0.2 } },
  ],
  context_features: {
    page: { type: "categorical", values: ["search", "chat"] },
    query_length: { type: "numeric", min: 0, max: 100 },
    // Every request says the same plan: a feature that can never matter.
    plan: { type: "categorical", max_values: 3 },
  },
  selection_policy: "contextual",
};

interface Selection {
  decision_id: string;
  arm_id: string;
  selection_probability: number;
}

/** Each user makes `rounds` selects, alternating pages, and rewards each by its arm's rate on that page (deterministic). */
async function play(system: string, users: string[], rounds: number): Promise<void> {
  let step = 0;
  for (const [index, user] of users.entries()) {
    for (let r = 0; r < rounds; r++) {
      const page = (index + r) % 2 === 0 ? "search" : "chat";
      const s = await callJson<Selection>("POST", `/v1/systems/${system}/select`, {
        user_id: user,
        context: { page, query_length: 10 + r, plan: "pro", note: "ignored by the policy" },
      });
      expect(s.status).toBe(200);
      const rate = RATES[page]?.[s.body.arm_id] as number;
      // Rewards at the arm's rate on the page, spread evenly over steps.
      const reward = (step * 0.6180339887) % 1 < rate ? 1 : 0;
      step++;
      const update = await call("POST", `/v1/systems/${system}/update`, { user_id: user, decision_id: s.body.decision_id, reward });
      expect(update.status).toBe(200);
    }
  }
}

describe("contextual choices on the service", () => {
  it("fits the context model from the log on the cron, and new users' selections follow their context", async () => {
    await putSystem("ctx", CONTEXTUAL);
    const users = Array.from({ length: 40 }, (_, i) => `early${i}`);
    await withSeededRandom(11, () => play("ctx", users, 6));
    await flushLog("ctx", users);

    // The log holds each decision's encoded features, and the cells were added up as the rewards landed.
    const logged = await env.DB.prepare("SELECT features, context FROM decisions WHERE system = 'ctx' LIMIT 1").first<{
      features: string;
      context: string;
    }>();
    expect(JSON.parse(logged?.features ?? "null")).toEqual([
      ["", 1],
      ["page=search", 1],
      ["plan=pro", 1],
      ["query_length", 0.1],
      ["query_length#b0", 1, 0],
    ]);
    expect(JSON.parse(logged?.context ?? "{}")).toMatchObject({ note: "ignored by the policy" });
    const cells = await env.DB.prepare(CONTEXT_CELLS_QUERY).bind("ctx", "2000-01-01").all<{ a: string; b: string; xx: number }>();
    const rewarded = await env.DB.prepare("SELECT COUNT(*) AS n FROM decisions WHERE system = 'ctx' AND reward IS NOT NULL").first<{
      n: number;
    }>();
    const intercept = cells.results.filter((c) => c.a === "" && c.b === "").reduce((n, c) => n + c.xx, 0);
    expect(intercept).toBe(rewarded?.n);
    expect(intercept).toBe(240);
    // A display token pairs only with itself.
    expect(cells.results.some((c) => c.a !== c.b && (c.a.includes("#b") || c.b.includes("#b")))).toBe(false);

    const before = (await callJson<{ version: number }>("GET", "/v1/systems/ctx")).body.version;
    expect(await refreshPopulations(env)).toContain("ctx");
    const system = await env.DB.prepare("SELECT version, context_model FROM systems WHERE name = 'ctx'").first<{
      version: number;
      context_model: string;
    }>();
    expect(system?.version).toBe(before + 1);
    expect(JSON.parse(system?.context_model ?? "{}").dimensions).toEqual([
      "",
      "page=search",
      "page=chat",
      "page#other",
      "query_length",
      "plan=pro",
      "plan#other",
    ]);

    // The system page's view: per page, each arm's observed and predicted reward; the plan never varied.
    type View = {
      name: string;
      never_varies: string | null;
      values: { value: string; arms: { arm_id: string; observed: number; predicted: number }[] }[];
    };
    const summary = await callJson<{ context: { features: View[] } }>("GET", "/v1/systems/ctx/summary");
    const page = summary.body.context.features.find((f) => f.name === "page") as View;
    const arm = (value: string, id: string) => page.values.find((v) => v.value === value)?.arms.find((a) => a.arm_id === id);
    expect(arm("search", "bold")?.predicted).toBeGreaterThan((arm("search", "careful")?.predicted ?? 1) + 0.2);
    expect(arm("chat", "careful")?.predicted).toBeGreaterThan((arm("chat", "bold")?.predicted ?? 1) + 0.2);
    expect(arm("search", "bold")?.observed).toBeGreaterThan(arm("search", "careful")?.observed ?? 1);
    expect(page.never_varies).toBeNull();
    expect(summary.body.context.features.find((f) => f.name === "plan")?.never_varies).toBe(
      "every rewarded decision in the window had plan = pro: it cannot change any choice",
    );

    // New users: on search pages they get bold, on chat pages careful, each select logged with its probability.
    const { result } = await withSeededRandom(5, async () => {
      const got: Record<string, Record<string, number>> = { search: {}, chat: {} };
      for (let u = 0; u < 30; u++) {
        for (const page of ["search", "chat"]) {
          // The features the model was trained with (a missing one is a context of its own, never seen).
          const context = { page, plan: "pro", query_length: 12 };
          const s = await callJson<Selection>("POST", "/v1/systems/ctx/select", { user_id: `new_${page}_${u}`, context });
          const counts = got[page] as Record<string, number>;
          counts[s.body.arm_id] = (counts[s.body.arm_id] ?? 0) + 1;
          expect(s.body.selection_probability).toBeGreaterThan(0);
          expect(s.body.selection_probability).toBeLessThanOrEqual(1);
          const decision = await callJson<{ selection_probability: number; context: Record<string, unknown> }>(
            "GET",
            `/v1/systems/ctx/decisions/${encodeURIComponent(s.body.decision_id)}?user_id=new_${page}_${u}`,
          );
          expect(decision.body.selection_probability).toBe(s.body.selection_probability);
          expect(decision.body.context).toEqual(context);
        }
      }
      return got;
    });
    expect(result.search?.bold ?? 0).toBeGreaterThanOrEqual(28);
    expect(result.chat?.careful ?? 0).toBeGreaterThanOrEqual(28);

    // Nothing new in the log: the next refresh writes nothing.
    expect(await refreshPopulations(env)).not.toContain("ctx");
  });

  it("before any model, and for a context-free system, the same users get the same arm on both pages", async () => {
    await putSystem("ctx_free", { ...CONTEXTUAL, selection_policy: "thompson" });
    const users = Array.from({ length: 40 }, (_, i) => `early${i}`);
    await withSeededRandom(11, () => play("ctx_free", users, 6));
    await flushLog("ctx_free", users);
    await refreshPopulations(env);
    const { result } = await withSeededRandom(5, async () => {
      const got: Record<string, Record<string, number>> = { search: {}, chat: {} };
      for (let u = 0; u < 30; u++) {
        for (const page of ["search", "chat"]) {
          const s = await callJson<Selection>("POST", "/v1/systems/ctx_free/select", { user_id: `new_${page}_${u}`, context: { page } });
          const counts = got[page] as Record<string, number>;
          counts[s.body.arm_id] = (counts[s.body.arm_id] ?? 0) + 1;
        }
      }
      return got;
    });
    // The context-free policy cannot serve both pages their best arm: one of them mostly gets its worse arm.
    const served = (result.search?.bold ?? 0) + (result.chat?.careful ?? 0);
    expect(served).toBeLessThanOrEqual(40);
  });

  it("refuses a contextual policy without features, and features that encode to too many dimensions", async () => {
    const none = await callJson<{ error: { code: string; details: { path: string; message: string }[] } }>("PUT", "/v1/systems/bad_ctx", {
      default_arms: [{ arm_id: "a" }],
      selection_policy: "contextual",
    });
    expect(none.status).toBe(400);
    expect(JSON.stringify(none.body)).toContain("selection_policy contextual needs at least one context feature");
    const wide = await callJson("PUT", "/v1/systems/bad_ctx", {
      default_arms: [{ arm_id: "a" }],
      context_features: { a: { type: "categorical" }, b: { type: "categorical" }, c: { type: "categorical", max_values: 20 } },
    });
    expect(wide.status).toBe(400);
    expect(JSON.stringify(wide.body)).toContain("encode to 43 dimensions");
    expect((await call("GET", "/v1/systems/bad_ctx")).status).toBe(404);
  });
});
