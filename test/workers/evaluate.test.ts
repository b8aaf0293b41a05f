import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { PolicyEvaluation } from "../../src/bandit/offline.js";
import { callJson, flushLog, putSystem, THREE_ARMS, withSeededRandom } from "./helpers";

/** The app's loop for a few users: select, act, report a reward (1 for "high", else 0), then the objects flush to D1. */
async function playAndFlush(system: string, users: string[], rounds: number, unrewarded = 0): Promise<void> {
  for (const user of users) {
    for (let i = 0; i < rounds + unrewarded; i++) {
      const selected = await callJson<{ decision_id: string; arm_id: string }>("POST", `/v1/systems/${system}/select`, { user_id: user });
      expect(selected.status).toBe(200);
      if (i >= rounds) continue;
      const reward = selected.body.arm_id === "high" ? 1 : 0;
      const updated = await callJson("POST", `/v1/systems/${system}/update`, {
        user_id: user,
        decision_id: selected.body.decision_id,
        reward,
      });
      expect(updated.status).toBe(200);
    }
    await flushLog(system, [user]);
  }
}

describe("POST /v1/systems/{system}/evaluate", () => {
  it("estimates policies from the decisions flushed to D1, with their arms' snapshot", async () => {
    await putSystem("offline", THREE_ARMS);
    // Seeded: which arms the worker plays (the assertions on "high" below need it played).
    await withSeededRandom(4, () => playAndFlush("offline", ["ann", "bob", "cid"], 10, 2));

    const row = await env.DB.prepare("SELECT arms_snapshot FROM decisions WHERE system = 'offline' LIMIT 1").first<{
      arms_snapshot: string;
    }>();
    const snapshot = JSON.parse(row?.arms_snapshot ?? "null") as [string, number, number, number][];
    expect(snapshot.map((arm) => arm[0])).toEqual(["low", "mid", "high"]);

    const own = await callJson<PolicyEvaluation>("POST", "/v1/systems/offline/evaluate", { policy: { type: "thompson" } });
    expect(own.status).toBe(200);
    // Only rewarded decisions are read; the runtime's own rule gives every one weight 1.
    expect(own.body).toMatchObject({
      system: "offline",
      agent_type: null,
      decisions: 30,
      n: 30,
      max_weight: expect.closeTo(1, 9),
      effective_sample_size: expect.closeTo(30, 6),
      policy: { type: "thompson", selection_policy: "thompson", traffic_floor: 0 },
      confidence: 0.95,
    });
    expect(own.body.ips?.value).toBeCloseTo(own.body.logging_policy?.value as number, 9);
    const window = own.body.window as { oldest: string; newest: string };
    expect(window.oldest <= window.newest).toBe(true);

    // "Always high" earned 1 on every decision that played it: both estimators say 1.
    const high = await callJson<PolicyEvaluation>("POST", "/v1/systems/offline/evaluate", {
      policy: { type: "static", weights: { high: 1 } },
      limit: 20,
    });
    expect(high.status).toBe(200);
    expect(high.body.decisions).toBe(20);
    expect(high.body.snips?.value).toBe(1);
    const low = await callJson<PolicyEvaluation>("POST", "/v1/systems/offline/evaluate", {
      policy: { type: "static", weights: { low: 1 } },
    });
    expect(low.body.ips?.value).toBe(0);

    const otherAgent = await callJson<PolicyEvaluation>("POST", "/v1/systems/offline/evaluate", {
      policy: { type: "greedy" },
      agent_type: "nobody",
    });
    expect(otherAgent.body).toMatchObject({ n: 0, ips: null, window: null, warnings: ["no logged decisions to evaluate"] });
  });

  it("evaluates a rule and the contextual policy on decisions logged with their contexts, with a doubly robust estimate", async () => {
    await putSystem("offline_context", { ...THREE_ARMS, context_features: { page: { type: "categorical", values: ["search", "chat"] } } });
    const users = ["ann", "bob", "cid"];
    // "high" pays on search, "low" on chat: the context decides which arm is right.
    await withSeededRandom(7, async () => {
      for (const user of users) {
        for (let i = 0; i < 12; i++) {
          const page = i % 2 === 0 ? "search" : "chat";
          const selected = await callJson<{ decision_id: string; arm_id: string }>("POST", "/v1/systems/offline_context/select", {
            user_id: user,
            context: { page, device: "mobile" },
          });
          expect(selected.status).toBe(200);
          const reward = selected.body.arm_id === (page === "search" ? "high" : "low") ? 1 : 0;
          await callJson("POST", "/v1/systems/offline_context/update", { user_id: user, decision_id: selected.body.decision_id, reward });
        }
        await flushLog("offline_context", [user]);
      }
    });

    const rule = await callJson<PolicyEvaluation>("POST", "/v1/systems/offline_context/evaluate", {
      policy: { type: "rule", rules: [{ when: { page: "search" }, arm: "high" }], otherwise: "low" },
    });
    expect(rule.status).toBe(200);
    expect(rule.body).toMatchObject({ decisions: 36, n: 36, skipped: { no_matching_rule: 0, policy_has_no_arm: 0 } });
    // The system's features reach the outcome model, the decisions' contexts the rule: it earns 1 wherever it is
    // logged, so each estimate says 1 or close to it.
    expect(rule.body.outcome_model).toMatch(/linear in page/);
    expect(rule.body.snips?.value).toBe(1);
    expect(rule.body.dr).toMatchObject({ value: expect.any(Number), standard_error: expect.any(Number) });
    expect(rule.body.dr?.value).toBeGreaterThan(0.8);

    // Without an otherwise, a chat decision has no arm: skipped, with the reason.
    const searchOnly = await callJson<PolicyEvaluation>("POST", "/v1/systems/offline_context/evaluate", {
      policy: { type: "rule", rules: [{ when: { page: "search" }, arm: "high" }] },
    });
    expect(searchOnly.body).toMatchObject({ n: 18, skipped: { no_matching_rule: 18 } });

    // The contextual policy reads the system's features.
    const contextual = await callJson<PolicyEvaluation>("POST", "/v1/systems/offline_context/evaluate", { policy: { type: "contextual" } });
    expect(contextual.status).toBe(200);
    expect(contextual.body.policy).toEqual({
      type: "contextual",
      context_features: { page: { type: "categorical", values: ["search", "chat"], max_values: 10 } },
    });
    expect(contextual.body.n).toBe(36);
    expect(contextual.body.dr).not.toBeNull();
  });

  it("gives a decision flushed before the snapshot column existed its snapshot when its reward is flushed", async () => {
    await putSystem("upgraded", THREE_ARMS);
    const selected = await callJson<{ decision_id: string }>("POST", "/v1/systems/upgraded/select", { user_id: "ann" });
    await flushLog("upgraded", ["ann"]);
    // As a row written before migration 0004 looks.
    await env.DB.prepare("UPDATE decisions SET arms_snapshot = NULL WHERE decision_id = ?").bind(selected.body.decision_id).run();
    const before = await callJson<PolicyEvaluation>("POST", "/v1/systems/upgraded/evaluate", { policy: { type: "greedy" } });
    expect(before.body).toMatchObject({ n: 0, decisions: 0 });

    await callJson("POST", "/v1/systems/upgraded/update", { user_id: "ann", decision_id: selected.body.decision_id, reward: 1 });
    await flushLog("upgraded", ["ann"]);
    const after = await callJson<PolicyEvaluation>("POST", "/v1/systems/upgraded/evaluate", { policy: { type: "greedy" } });
    expect(after.body).toMatchObject({ n: 1, decisions: 1, skipped: { no_snapshot: 0 } });
  });

  it("answers 404 for an unknown system and 400 for a bad policy, in the error format", async () => {
    const unknown = await callJson<{ error: { code: string; message: string } }>("POST", "/v1/systems/nowhere/evaluate", {
      policy: { type: "greedy" },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("unknown_system");

    await putSystem("offline_bad", THREE_ARMS);
    const cases: [unknown, string, RegExp][] = [
      [{ policy: { type: "static", weights: { low: 0 } } }, "policy.weights", /at least one arm needs a weight above 0/],
      [{ policy: { type: "ucb" } }, "policy.type", /expected 'static', 'greedy', 'thompson', 'rule' or 'contextual'/],
      [{ policy: { type: "thompson", traffic_floor: -1 } }, "policy.traffic_floor", /Too small/],
      [{}, "policy", /is required/],
      [{ policy: { type: "greedy" }, limit: 0 }, "limit", /Too small/],
      [{ policy: { type: "greedy" }, limit: 50_001 }, "limit", /Too big/],
      [{ policy: { type: "rule", rules: [{ when: "search", arm: "low" }] } }, "policy.rules[0].when", /expected record/],
      [
        { policy: { type: "rule", rules: [{ when: { page: "search" }, arm: "low", weight: 1 }] } },
        "policy.rules[0]",
        /Unrecognized key: "weight"/,
      ],
      // Only the system's config shows that a contextual policy has no features to read: the handler's 400.
      [{ policy: { type: "contextual" } }, "policy.context_features", /the contextual policy needs context features/],
    ];
    for (const [body, path, message] of cases) {
      const refused = await callJson<{ error: { code: string; details: { path: string; message: string }[] } }>(
        "POST",
        "/v1/systems/offline_bad/evaluate",
        body,
      );
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error.code).toBe("invalid_request");
      expect(refused.body.error.details).toContainEqual({ path, message: expect.stringMatching(message) });
    }
  });
});
