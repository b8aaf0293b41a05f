/**
 * Forgetting a user (DELETE /v1/systems/{system}/users/{user_id}): every agent type's ArmsObject, the rows waiting
 * in the log shard and the decisions in D1 are removed, the rollups keep their totals, a late row is refused by the
 * tombstone, and the user can come back.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ArmSummary, ArmView, ForgetResult } from "../../src/runtime/schema.js";
import { type DecisionRow, writeDecisions } from "../../workers/db/decisions";
import { armsStubOf, call, callJson, flushLog, putSystem, shardStubOf, THREE_ARMS } from "./helpers";

const SYSTEM = "forget_all";

async function select(user: string, agentType?: string): Promise<string> {
  const s = await callJson<{ decision_id: string }>("POST", `/v1/systems/${SYSTEM}/select`, {
    user_id: user,
    ...(agentType ? { agent_type: agentType } : {}),
  });
  expect(s.status).toBe(200);
  return s.body.decision_id;
}

async function reward(user: string, decisionId: string, value: number): Promise<void> {
  const u = await callJson("POST", `/v1/systems/${SYSTEM}/update`, { user_id: user, decision_id: decisionId, reward: value });
  expect(u.status).toBe(200);
}

const forget = (system: string, user: string) =>
  callJson<ForgetResult>("DELETE", `/v1/systems/${system}/users/${encodeURIComponent(user)}`);

const rollups = async (system: string) =>
  (await env.DB.prepare("SELECT * FROM decision_rollups WHERE system = ? ORDER BY hour, agent_type, arm_id").bind(system).all()).results;

const d1Rows = async (system: string, user: string) =>
  (await env.DB.prepare("SELECT * FROM decisions WHERE system = ? AND user_id = ?").bind(system, user).all<DecisionRow>()).results;

const totals = (arms: ArmSummary[]) => arms.map(({ arm_id, pulls, rewarded, reward_sum }) => ({ arm_id, pulls, rewarded, reward_sum }));

async function summary(system: string) {
  const s = await callJson<{ arms: ArmSummary[]; recent_decisions: { user_id: string }[] }>("GET", `/v1/systems/${system}/summary`);
  expect(s.status).toBe(200);
  return s.body;
}

/** A user's arms without probability_best, which is a Monte Carlo estimate (its draws differ between calls). */
async function armsOf(user: string, agentType: string): Promise<Omit<ArmView, "probability_best">[]> {
  const a = await callJson<{ arms: ArmView[] }>("GET", `/v1/systems/${SYSTEM}/arms?user_id=${user}&agent_type=${agentType}`);
  expect(a.status).toBe(200);
  return a.body.arms.map(({ probability_best: _, ...arm }) => arm);
}

/** The tables an object's SQLite holds (none once forgotten), without the platform's own. */
async function tablesOf(stub: DurableObjectStub): Promise<string[]> {
  return runInDurableObject(stub, (_instance, state) =>
    state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\'")
      .toArray()
      .map((r) => r.name),
  );
}

describe("forgetting a user", () => {
  it("removes the user's objects, waiting rows and D1 decisions for every agent type; totals stay; a late row is refused; the user can come back", async () => {
    // The configured agent type is "support"; "chat" is known from the rollups only; "default" always.
    await putSystem(SYSTEM, { ...THREE_ARMS, agent_type: "support", cache_ttl_seconds: 0 });

    // support: three decisions in D1 (two rewarded), then one more still in the object's outbox.
    const support = [await select("ann"), await select("ann"), await select("ann")];
    await reward("ann", support[0] as string, 1);
    await reward("ann", support[1] as string, 0.5);
    await flushLog(SYSTEM, ["ann"], "support");
    // chat: two decisions in D1.
    const chat = [await select("ann", "chat"), await select("ann", "chat")];
    await flushLog(SYSTEM, ["ann"], "chat");
    // bob (another user, same system): kept as he is.
    await select("bob");
    await select("bob", "chat");
    await flushLog(SYSTEM, ["bob"], "support");
    await flushLog(SYSTEM, ["bob"], "chat");
    const pendingInObject = await select("ann");
    // default: two decisions handed to the shard, which has not written them yet.
    const waiting = [await select("ann", "default"), await select("ann", "default")];
    expect(await runDurableObjectAlarm(armsStubOf(SYSTEM, "ann", "default"))).toBe(true);
    const shard = shardStubOf(SYSTEM, "ann");
    expect(await shard.pending()).toBeGreaterThanOrEqual(2);
    expect(await armsStubOf(SYSTEM, "ann", "support").pendingFlush()).toBe(1);

    const annRows = await d1Rows(SYSTEM, "ann");
    expect(annRows.length).toBe(5);
    const rollupsBefore = await rollups(SYSTEM);
    const totalsBefore = totals((await summary(SYSTEM)).arms);
    expect(totalsBefore.reduce((n, a) => n + a.pulls, 0)).toBe(7);
    const bobBefore = await d1Rows(SYSTEM, "bob");
    const shardBefore = await shard.pending();

    const forgotten = await forget(SYSTEM, "ann");
    expect(forgotten.status).toBe(200);
    expect(forgotten.body).toEqual({
      system: SYSTEM,
      user_id: "ann",
      agent_types: ["chat", "default", "support"],
      arms_objects: 3,
      arms_in_object: 9,
      decisions_in_object: 4 + 2 + 2,
      pending_in_log: 2,
      decisions_in_log: 5,
      archive: "tombstoned",
    });

    // Nothing of ann is left: not in D1, not in the shard, not in any object (no tables, no alarm).
    expect(await d1Rows(SYSTEM, "ann")).toEqual([]);
    expect(await shard.pending()).toBe(shardBefore - 2);
    for (const agentType of ["support", "chat", "default"]) {
      const stub = armsStubOf(SYSTEM, "ann", agentType);
      expect(await tablesOf(stub)).toEqual([]);
      expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
    }
    for (const id of [...support, ...chat, pendingInObject, ...waiting]) {
      const got = await call("GET", `/v1/systems/${SYSTEM}/decisions/${encodeURIComponent(id)}?user_id=ann`);
      expect(got.status).toBe(404);
    }
    // ann's arms are at the prior: those of a user the system never met.
    for (const agentType of ["support", "chat", "default"]) {
      expect(await armsOf("ann", agentType)).toEqual(await armsOf("never_met", agentType));
    }
    // The rollups (no user ids) and so the system's totals are as they were; bob is untouched.
    expect(await rollups(SYSTEM)).toEqual(rollupsBefore);
    const after = await summary(SYSTEM);
    expect(totals(after.arms)).toEqual(totalsBefore);
    expect(after.recent_decisions.map((d) => d.user_id)).not.toContain("ann");
    expect(await d1Rows(SYSTEM, "bob")).toEqual(bobBefore);
    const tombstone = await env.DB.prepare("SELECT forgotten_at FROM forgotten_users WHERE system = ? AND user_id = 'ann'")
      .bind(SYSTEM)
      .first<{ forgotten_at: string }>();
    expect(tombstone?.forgotten_at).toMatch(/^\d{4}-\d\d-\d\dT/);

    // A late copy of a decision made before the forget (a flush that was in flight) is refused by the upsert.
    await shard.append({ database: "DB", system: SYSTEM }, annRows);
    expect(await shard.pending()).toBe(annRows.length);
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    expect(await shard.pending()).toBe(0);
    expect(await d1Rows(SYSTEM, "ann")).toEqual([]);
    expect(await rollups(SYSTEM)).toEqual(rollupsBefore);

    // A second call finds nothing left.
    const again = await forget(SYSTEM, "ann");
    expect(again.status).toBe(200);
    expect(again.body).toEqual({
      system: SYSTEM,
      user_id: "ann",
      agent_types: ["chat", "default", "support"],
      arms_objects: 0,
      arms_in_object: 0,
      decisions_in_object: 0,
      pending_in_log: 0,
      decisions_in_log: 0,
      archive: "tombstoned",
    });

    // ann comes back: a new decision is made and logged like any other.
    const back = await select("ann");
    await reward("ann", back, 1);
    await flushLog(SYSTEM, ["ann"], "support");
    const rows = await d1Rows(SYSTEM, "ann");
    expect(rows.map((r) => [r.decision_id, r.reward])).toEqual([[back, 1]]);
    expect(totals((await summary(SYSTEM)).arms).reduce((n, a) => n + a.pulls, 0)).toBe(8);
    const decision = await callJson<{ decision_id: string }>(
      "GET",
      `/v1/systems/${SYSTEM}/decisions/${encodeURIComponent(back)}?user_id=ann`,
    );
    expect(decision.status).toBe(200);
  });

  it("creates nothing for a user the system never met, and takes URL-encoded user ids", async () => {
    await putSystem("forget_quiet", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const nobody = await forget("forget_quiet", "nobody");
    expect(nobody.status).toBe(200);
    expect(nobody.body).toMatchObject({ agent_types: ["default"], arms_objects: 0, decisions_in_object: 0, decisions_in_log: 0 });
    expect(await tablesOf(armsStubOf("forget_quiet", "nobody"))).toEqual([]);

    // A user id with a space, a slash and a non-ASCII letter reaches the route decoded.
    const odd = "ann / ü?x";
    const s = await callJson<{ decision_id: string }>("POST", "/v1/systems/forget_quiet/select", { user_id: odd });
    expect(s.status).toBe(200);
    await flushLog("forget_quiet", [odd]);
    const forgotten = await forget("forget_quiet", odd);
    expect(forgotten.body).toMatchObject({ user_id: odd, arms_objects: 1, decisions_in_object: 1, decisions_in_log: 1 });
    expect(await tablesOf(armsStubOf("forget_quiet", odd))).toEqual([]);
  });

  it("finds an agent type the log has not seen yet from the user's rows waiting in the shard", async () => {
    await putSystem("forget_fresh", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const s = await callJson<{ decision_id: string }>("POST", "/v1/systems/forget_fresh/select", { user_id: "kim", agent_type: "fresh" });
    expect(s.status).toBe(200);
    // Handed to the shard, not yet in D1: no rollup names "fresh".
    expect(await runDurableObjectAlarm(armsStubOf("forget_fresh", "kim", "fresh"))).toBe(true);
    expect(await rollups("forget_fresh")).toEqual([]);
    const forgotten = await forget("forget_fresh", "kim");
    expect(forgotten.body).toMatchObject({ agent_types: ["default", "fresh"], arms_objects: 1, decisions_in_object: 1, pending_in_log: 1 });
    expect(await tablesOf(armsStubOf("forget_fresh", "kim", "fresh"))).toEqual([]);
  });

  it("finds an agent type whose decisions are still only in the user's object, and the object stays forgotten", async () => {
    await putSystem("forget_unsent", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const s = await callJson<{ decision_id: string }>("POST", "/v1/systems/forget_unsent/select", { user_id: "kim", agent_type: "fresh" });
    expect(s.status).toBe(200);
    // Forgotten at once: nothing handed to the shard, nothing in D1, no rollup.
    const forgotten = await forget("forget_unsent", "kim");
    expect(forgotten.body).toMatchObject({ agent_types: ["default", "fresh"], arms_objects: 1, decisions_in_object: 1, pending_in_log: 0 });
    const read = await call("GET", `/v1/systems/forget_unsent/decisions/${encodeURIComponent(s.body.decision_id)}?user_id=kim`);
    expect(read.status).toBe(404);
    expect(await tablesOf(armsStubOf("forget_unsent", "kim", "fresh"))).toEqual([]);
    const again = await forget("forget_unsent", "kim");
    expect(again.body).toMatchObject({ arms_objects: 0, decisions_in_object: 0, pending_in_log: 0, decisions_in_log: 0 });
  });

  it("deletes a user's many D1 decisions in bounded batches, leaving the rollups and other users as they were", async () => {
    await putSystem("forget_many", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const row = (i: number, user: string): DecisionRow => ({
      decision_id: `default~many~${user}-${i}`,
      system: "forget_many",
      agent_type: i % 2 === 0 ? "default" : "other",
      user_id: user,
      arm_id: ["low", "mid", "high"][i % 3] as string,
      params: "{}",
      selection_probability: 0.5,
      context: "{}",
      created_at: new Date(Date.UTC(2026, 0, 1, i % 24)).toISOString(),
      reward: i % 4 === 0 ? 1 : null,
      engagement: null,
      grading: null,
      reward_source: null,
      rewarded_at: null,
      update_metadata: null,
      arms_snapshot: null,
      unit_new: null,
      unit_sum_sq: null,
      unit_n_sq: null,
    });
    // Over two batches of the delete (500 rows each), straight into D1.
    await writeDecisions(env.DB, [...Array.from({ length: 1201 }, (_, i) => row(i, "many")), row(0, "other_user")]);
    const before = await rollups("forget_many");
    const forgotten = await forget("forget_many", "many");
    expect(forgotten.body).toMatchObject({ agent_types: ["default", "other"], decisions_in_log: 1201, arms_objects: 0 });
    expect(await d1Rows("forget_many", "many")).toEqual([]);
    expect((await d1Rows("forget_many", "other_user")).length).toBe(1);
    expect(await rollups("forget_many")).toEqual(before);
  });

  it("needs the admin scope, a known system and a valid user id", async () => {
    await putSystem("forget_guard", THREE_ARMS);
    const created = await callJson<{ key: string }>("POST", "/v1/keys", { scope: "runtime", systems: ["forget_guard"] });
    const runtimeKey = await call("DELETE", "/v1/systems/forget_guard/users/ann", undefined, {
      authorization: `Bearer ${created.body.key}`,
    });
    expect(runtimeKey.status).toBe(403);
    expect(((await runtimeKey.json()) as { error: { code: string } }).error.code).toBe("forbidden");

    const unknown = await forget("forget_nowhere", "ann");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: { code: "unknown_system" } });

    const long = await forget("forget_guard", "x".repeat(257));
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({ error: { details: [expect.objectContaining({ path: "user_id" })] } });
    // Nothing was tombstoned for a refused request.
    const marks = await env.DB.prepare("SELECT COUNT(*) AS n FROM forgotten_users WHERE system = 'forget_guard'").first<{ n: number }>();
    expect(marks?.n).toBe(0);
  });
});
