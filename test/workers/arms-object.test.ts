import { abortAllDurableObjects, listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ownerTag } from "../../src/runtime/decision-id.js";
import { ArmsObject } from "../../workers/objects/arms-object";
import { SCHEMA_VERSION } from "../../workers/objects/arms-schema";
import { callJson, flushLog, putSystem, shardStubOf, THREE_ARMS } from "./helpers";

const stubOf = (system: string, user: string, agentType = "default") => env.ARMS.getByName(JSON.stringify([system, agentType, user]));

interface D1Decision {
  decision_id: string;
  system: string;
  user_id: string;
  arm_id: string;
  reward: number | null;
  reward_source: string | null;
  selection_probability: number;
}

async function d1Decisions(system: string): Promise<D1Decision[]> {
  const { results } = await env.DB.prepare("SELECT * FROM decisions WHERE system = ? ORDER BY created_at").bind(system).all<D1Decision>();
  return results;
}

async function select(system: string, user: string) {
  const response = await callJson<{ decision_id: string; arm_id: string; arms_state: { arm_id: string }[] }>(
    "POST",
    `/v1/systems/${system}/select`,
    { user_id: user },
  );
  expect(response.status).toBe(200);
  return response.body;
}

describe("ArmsObject", () => {
  it("keeps arms and decisions in versioned SQLite, one object per user", async () => {
    await putSystem("obj", THREE_ARMS);
    const decision = await select("obj", "ann");
    await select("obj", "bob");
    await runInDurableObject(stubOf("obj", "ann"), async (instance, state) => {
      expect(instance).toBeInstanceOf(ArmsObject);
      const sql = state.storage.sql;
      expect(sql.exec("SELECT value FROM meta WHERE key = 'schema_version'").one().value).toBe(String(SCHEMA_VERSION));
      expect(
        sql
          .exec("SELECT arm_id FROM arms ORDER BY position")
          .toArray()
          .map((r) => r.arm_id),
      ).toEqual(["low", "mid", "high"]);
      expect(sql.exec("SELECT decision_id FROM decisions").toArray()).toEqual([{ decision_id: decision.decision_id }]);
    });
    const ids = await listDurableObjectIds(env.ARMS);
    expect(ids.length).toBeGreaterThanOrEqual(2);
  });

  it("flushes decisions and rewards to D1 from its outbox, in the alarm, not per request", async () => {
    await putSystem("flush", THREE_ARMS);
    const decisions: Awaited<ReturnType<typeof select>>[] = [];
    for (let i = 0; i < 5; i++) decisions.push(await select("flush", "ann"));
    for (const d of decisions.slice(0, 3)) {
      await callJson("POST", "/v1/systems/flush/update", { user_id: "ann", decision_id: d.decision_id, reward: 0.25 });
    }
    expect(await d1Decisions("flush")).toEqual([]);
    const stub = stubOf("flush", "ann");
    expect(await stub.pendingFlush()).toBe(8);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.pendingFlush()).toBe(0);
    // The user's shard has them now, and writes them (with other users') in one batch.
    const shard = shardStubOf("flush", "ann");
    expect(await shard.pending()).toBe(5);
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    expect(await shard.pending()).toBe(0);
    const rows = await d1Decisions("flush");
    expect(rows.map((r) => r.decision_id).sort()).toEqual(decisions.map((d) => d.decision_id).sort());
    expect(rows.filter((r) => r.reward === 0.25)).toHaveLength(3);
    expect(rows.filter((r) => r.reward === null)).toHaveLength(2);
    expect(rows.every((r) => r.user_id === "ann" && r.selection_probability > 0)).toBe(true);
    // A later reward updates the same row.
    await callJson("POST", "/v1/systems/flush/update", { user_id: "ann", decision_id: decisions[4]?.decision_id, reward: 1 });
    await flushLog("flush", ["ann"]);
    expect((await d1Decisions("flush")).find((r) => r.decision_id === decisions[4]?.decision_id)?.reward).toBe(1);
  });

  it("loses nothing when the object is aborted between select and update", async () => {
    await putSystem("abort", THREE_ARMS);
    const decision = await select("abort", "ann");
    await abortAllDurableObjects();
    const update = await callJson("POST", "/v1/systems/abort/update", { user_id: "ann", decision_id: decision.decision_id, reward: 0.6 });
    expect(update.body).toMatchObject({ success: true, duplicate: false, computed_update: { total_pulls: 1 } });
    await abortAllDurableObjects();
    await flushLog("abort", ["ann"]);
    expect(await d1Decisions("abort")).toMatchObject([{ decision_id: decision.decision_id, reward: 0.6, reward_source: "update" }]);
  });

  it("applies default_reward to decisions left unrewarded past reward_timeout_seconds", async () => {
    await putSystem("timeout", { ...THREE_ARMS, default_reward: 0, reward_timeout_seconds: 60 });
    const late = await select("timeout", "ann");
    const fresh = await select("timeout", "ann");
    const stub = stubOf("timeout", "ann");
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE decisions SET created_at = created_at - 120000 WHERE decision_id = ?", late.decision_id);
    });
    await flushLog("timeout", ["ann"]);
    const rows = await d1Decisions("timeout");
    expect(rows.find((r) => r.decision_id === late.decision_id)).toMatchObject({ reward: 0, reward_source: "default" });
    expect(rows.find((r) => r.decision_id === fresh.decision_id)).toMatchObject({ reward: null });
    // The app's own reward for the timed-out decision is now a duplicate.
    const after = await callJson("POST", "/v1/systems/timeout/update", { user_id: "ann", decision_id: late.decision_id, reward: 1 });
    expect(after.body).toMatchObject({ duplicate: true, reward: 0 });
  });

  it("keeps numbering decisions after pruning, so new ones still reach D1", async () => {
    await putSystem("prune", THREE_ARMS);
    for (let i = 0; i < 3; i++) await select("prune", "ann");
    const stub = stubOf("prune", "ann");
    await runDurableObjectAlarm(stub);
    // Age everything past the retention: the prune keeps only the newest row.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE decisions SET created_at = created_at - ?", 15 * 24 * 3600 * 1000);
    });
    await runDurableObjectAlarm(stub);
    // A fresh instance, as after eviction: it must not take its row numbers from what the prune left.
    await abortAllDurableObjects();
    const later = await select("prune", "ann");
    const fresh = stubOf("prune", "ann");
    expect(await fresh.pendingFlush()).toBe(1);
    await flushLog("prune", ["ann"]);
    expect((await d1Decisions("prune")).map((r) => r.decision_id)).toContain(later.decision_id);
    expect(new Set((await d1Decisions("prune")).map((r) => r.decision_id)).size).toBe(4);
  });

  it("does not roll back to an older config a stale worker cache sends", async () => {
    await putSystem("versions", { default_arms: [{ arm_id: "old" }] });
    await select("versions", "ann");
    await putSystem("versions", { default_arms: [{ arm_id: "new" }] });
    const fresh = await select("versions", "ann");
    expect(fresh.arm_id).toBe("new");
    const stub = stubOf("versions", "ann");
    const stale = JSON.parse((await stub.select({ name: "versions", version: 1 }, { user_id: "ann", agent_type: "default" })) as string);
    expect(stale.arm_id).toBe("new");
  });

  it("stores nothing for a user it has never met", async () => {
    await putSystem("ghosts", THREE_ARMS);
    const arms = await callJson<{ arms: { total_pulls: number }[] }>("GET", "/v1/systems/ghosts/arms?user_id=ghost");
    expect(arms.body.arms).toHaveLength(3);
    expect(arms.body.arms.every((a) => a.total_pulls === 0)).toBe(true);
    const update = await callJson("POST", "/v1/systems/ghosts/update", {
      user_id: "ghost",
      decision_id: `default~${ownerTag("ghosts", "default", "ghost")}~1-x`,
      reward: 1,
    });
    expect(update.status).toBe(404);
    await runInDurableObject(stubOf("ghosts", "ghost"), (_instance, state) => {
      expect(state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray()).toEqual([]);
    });
  });

  it("gives existing users new default arms at their next select, and stops choosing removed ones", async () => {
    await putSystem("grow", {
      default_arms: [
        { arm_id: "a", params: { k: 1 } },
        { arm_id: "b", params: { k: 2 } },
      ],
      cache_ttl_seconds: 0,
    });
    const before = await select("grow", "ann");
    expect(before.arms_state.map((a) => a.arm_id)).toEqual(["a", "b"]);
    await putSystem("grow", {
      default_arms: [
        { arm_id: "b", params: { k: 3 } },
        { arm_id: "c", params: { k: 4 } },
      ],
      cache_ttl_seconds: 0,
    });
    const after = await callJson<{ arm_id: string; params: { k: number }; arms_state: { arm_id: string }[] }>(
      "POST",
      "/v1/systems/grow/select",
      { user_id: "ann" },
    );
    expect(after.body.arms_state.map((a) => a.arm_id)).toEqual(["b", "c"]);
    if (after.body.arm_id === "b") expect(after.body.params).toEqual({ k: 3 });
    const arms = await callJson<{ arms: { arm_id: string; active: boolean }[] }>("GET", "/v1/systems/grow/arms?user_id=ann");
    expect(arms.body.arms.map((a) => [a.arm_id, a.active])).toEqual([
      ["a", false],
      ["b", true],
      ["c", true],
    ]);
  });
});
