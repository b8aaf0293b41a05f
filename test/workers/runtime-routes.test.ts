import { describe, expect, it } from "vitest";
import { DecisionSchema } from "../../src/runtime/schema.js";
import { call, callJson, putSystem, THREE_ARMS } from "./helpers";

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe("the runtime loop over HTTP", () => {
  it("creates, reads and replaces a system", async () => {
    const created = await callJson<{ system: string; version: number; config: { default_arms: unknown[] } }>(
      "PUT",
      "/v1/systems/routes_sys",
      THREE_ARMS,
    );
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ system: "routes_sys", version: 1 });
    expect(created.body.config.default_arms).toHaveLength(3);
    const replaced = await callJson("PUT", "/v1/systems/routes_sys", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    expect(replaced.body).toMatchObject({ version: 2, config: { cache_ttl_seconds: 0 } });
    expect((await callJson("GET", "/v1/systems/routes_sys")).body).toMatchObject({ system: "routes_sys", version: 2 });
  });

  it("selects, rewards once, and shows the decision and the arms", async () => {
    await putSystem("loop", THREE_ARMS);
    const selected = await callJson<{
      decision_id: string;
      arm_id: string;
      params: { rate: number };
      arms_state: unknown[];
      selection_probability: number;
    }>("POST", "/v1/systems/loop/select", { user_id: "ann", context: { page: "home" } });
    expect(selected.status).toBe(200);
    expect(["low", "mid", "high"]).toContain(selected.body.arm_id);
    expect(selected.body.arms_state).toHaveLength(3);
    expect(selected.body.selection_probability).toBeGreaterThan(0);
    expect(selected.body.decision_id).toMatch(/^default~[0-9a-f]{10}~/);

    const update = { user_id: "ann", decision_id: selected.body.decision_id, reward: 0.8 };
    const first = await callJson<{ success: boolean; duplicate: boolean; computed_update: { alpha: number; total_pulls: number } }>(
      "POST",
      "/v1/systems/loop/update",
      update,
    );
    expect(first.body).toMatchObject({
      success: true,
      duplicate: false,
      reward: 0.8,
      computed_update: { total_pulls: 1, total_reward: 0.8 },
    });
    // The reward counts at least as the seed's alpha += 0.8, beta += 0.2 (more: a fractional reward).
    expect(first.body.computed_update.alpha).toBeGreaterThanOrEqual(1.8);
    expect(first.body.computed_update).not.toHaveProperty("learning");
    const again = await callJson("POST", "/v1/systems/loop/update", { ...update, reward: 0.1 });
    expect(again.body).toMatchObject({ success: true, duplicate: true, reward: 0.8, computed_update: null });

    const decision = await callJson<{ reward: number; context: object; arm_id: string }>(
      "GET",
      `/v1/systems/loop/decisions/${encodeURIComponent(selected.body.decision_id)}?user_id=ann`,
    );
    expect(decision.body).toMatchObject({ arm_id: selected.body.arm_id, reward: 0.8, reward_source: "update", context: { page: "home" } });

    const arms = await callJson<{ arms: { arm_id: string; total_pulls: number; total_reward: number; probability_best: number }[] }>(
      "GET",
      "/v1/systems/loop/arms?user_id=ann",
    );
    const pulled = arms.body.arms.find((a) => a.arm_id === selected.body.arm_id);
    expect(pulled).toMatchObject({ total_pulls: 1, total_reward: 0.8 });
    expect(arms.body.arms.reduce((sum, a) => sum + a.probability_best, 0)).toBeCloseTo(1, 5);
  });

  it("answers a decision's times in ISO 8601, as the SDK's runtime does, and in the decision's own schema", async () => {
    await putSystem("times", THREE_ARMS);
    const before = Date.now();
    const selected = await callJson<{ decision_id: string }>("POST", "/v1/systems/times/select", { user_id: "ann" });
    const path = `/v1/systems/times/decisions/${encodeURIComponent(selected.body.decision_id)}?user_id=ann`;
    const open = await callJson<{ created_at: string; rewarded_at: string | null }>("GET", path);
    expect(open.body.created_at).toMatch(ISO_8601);
    expect(Date.parse(open.body.created_at)).toBeGreaterThanOrEqual(before - 1000);
    expect(open.body.rewarded_at).toBeNull();
    await callJson("POST", "/v1/systems/times/update", { user_id: "ann", decision_id: selected.body.decision_id, reward: 1 });
    const rewarded = await callJson<{ created_at: string; rewarded_at: string }>("GET", path);
    expect(rewarded.body.rewarded_at).toMatch(ISO_8601);
    expect(DecisionSchema.safeParse(rewarded.body).success).toBe(true);
  });

  it("refuses a decision of another user, and an unknown decision", async () => {
    await putSystem("owners", THREE_ARMS);
    const selected = await callJson<{ decision_id: string }>("POST", "/v1/systems/owners/select", { user_id: "ann" });
    const stolen = await callJson<{ error: { code: string } }>("POST", "/v1/systems/owners/update", {
      user_id: "bob",
      decision_id: selected.body.decision_id,
      reward: 1,
    });
    expect(stolen.status).toBe(403);
    expect(stolen.body.error.code).toBe("decision_of_another_user");
    const unknown = await callJson<{ error: { code: string } }>("POST", "/v1/systems/owners/update", {
      user_id: "ann",
      decision_id: "default~0000000000~nope",
      reward: 1,
    });
    expect(unknown.status).toBe(403);
    const made = selected.body.decision_id.split("~");
    const forged = `${made[0]}~${made[1]}~doesnotexist`;
    const missing = await callJson<{ error: { code: string } }>("POST", "/v1/systems/owners/update", {
      user_id: "ann",
      decision_id: forged,
      reward: 1,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("unknown_decision");
    // Nothing of that changed ann's arms.
    const arms = await callJson<{ arms: { total_pulls: number }[] }>("GET", "/v1/systems/owners/arms?user_id=ann");
    expect(arms.body.arms.every((a) => a.total_pulls === 0)).toBe(true);
  });

  it("answers the seed's fallback for a system without arms", async () => {
    await putSystem("empty", {});
    const selected = await callJson("POST", "/v1/systems/empty/select", { user_id: "ann" });
    expect(selected.body).toMatchObject({ decision_id: null, arm_id: "default", params: {}, metadata: { fallback: true } });
  });

  it("requires the API key on /v1 and accepts any of the configured keys", async () => {
    expect((await call("GET", "/v1/ping", undefined, { authorization: "" })).status).toBe(401);
    expect((await call("GET", "/v1/ping", undefined, { authorization: "Bearer wrong" })).status).toBe(401);
    expect((await call("GET", "/v1/ping", undefined, { authorization: "Bearer test-key-2" })).status).toBe(200);
    expect((await call("GET", "/healthz", undefined, { authorization: "" })).status).toBe(200);
  });
});
