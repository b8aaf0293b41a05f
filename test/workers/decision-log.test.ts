import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addUser, type Population, parsePopulation } from "../../src/bandit/pooling.js";
import type { ArmSummary } from "../../src/runtime/schema.js";
import { Rng } from "../../src/search/rng.js";
import { type DecisionRow, writeDecisions } from "../../workers/db/decisions";
import { POPULATION_QUERY, refreshPopulations } from "../../workers/db/population";
import { clearSystemCache } from "../../workers/db/systems";
import { logShardName } from "../../workers/objects/log-shards";
import { armsStubOf, call, callJson, flushLog, putSystem, shardStubOf, THREE_ARMS, withSeededRandom } from "./helpers";

interface Sent {
  selections: Map<string, number>;
  rewarded: Map<string, number>;
  rewardSum: Map<string, number>;
  /** Per (user, arm): count, sum and sum of squares of rewards, for the population the log should hold. */
  perUser: Map<string, { n: number; sum: number; sum_sq: number }>;
  decisions: string[];
}

/** `users` users make `rounds` decisions each through the service; most get a reward of 0, 0.5 or 1. */
async function play(system: string, users: string[], rounds: number, seed = 11): Promise<Sent> {
  const uniform = Rng.uniform(seed + 1000);
  const sent: Sent = { selections: new Map(), rewarded: new Map(), rewardSum: new Map(), perUser: new Map(), decisions: [] };
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  await withSeededRandom(seed, async () => {
    for (const user of users) {
      for (let i = 0; i < rounds; i++) {
        const s = await callJson<{ decision_id: string; arm_id: string }>("POST", `/v1/systems/${system}/select`, { user_id: user });
        expect(s.status).toBe(200);
        sent.decisions.push(s.body.decision_id);
        add(sent.selections, s.body.arm_id, 1);
        if (uniform() < 0.2) continue;
        const reward = [0, 0.5, 1][Math.floor(uniform() * 3)] as number;
        const u = await callJson("POST", `/v1/systems/${system}/update`, { user_id: user, decision_id: s.body.decision_id, reward });
        expect(u.status).toBe(200);
        add(sent.rewarded, s.body.arm_id, 1);
        add(sent.rewardSum, s.body.arm_id, reward);
        const key = JSON.stringify([user, s.body.arm_id]);
        const stats = sent.perUser.get(key) ?? { n: 0, sum: 0, sum_sq: 0 };
        sent.perUser.set(key, { n: stats.n + 1, sum: stats.sum + reward, sum_sq: stats.sum_sq + reward * reward });
      }
    }
  });
  return sent;
}

async function summaryArms(system: string): Promise<ArmSummary[]> {
  return (await callJson<{ arms: ArmSummary[] }>("GET", `/v1/systems/${system}/summary`)).body.arms;
}

function expectTotals(arms: ArmSummary[], sent: Sent): void {
  for (const arm of arms) {
    expect(arm.pulls).toBe(sent.selections.get(arm.arm_id) ?? 0);
    expect(arm.rewarded).toBe(sent.rewarded.get(arm.arm_id) ?? 0);
    expect(arm.reward_sum).toBe(sent.rewardSum.get(arm.arm_id) ?? 0);
  }
}

async function storedPopulation(system: string): Promise<Population | null> {
  const row = await env.DB.prepare("SELECT population FROM systems WHERE name = ?").bind(system).first<{ population: string | null }>();
  return row?.population ? parsePopulation(JSON.parse(row.population)) : null;
}

const users = (n: number, prefix = "u") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe("the decision log", () => {
  it("carries many users' decisions to D1 exactly once, with rollups equal to what was sent", async () => {
    await putSystem("log_exact", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const people = users(30);
    const sent = await play("log_exact", people, 4);
    await flushLog("log_exact", people);

    const rows = await env.DB.prepare("SELECT decision_id FROM decisions WHERE system = 'log_exact'").all<{ decision_id: string }>();
    expect(rows.results.map((r) => r.decision_id).sort()).toEqual([...sent.decisions].sort());
    expectTotals(await summaryArms("log_exact"), sent);

    // The population the cron computes is the one of the users' own rewards (all made today: one unit per user and arm).
    expect(await refreshPopulations(env)).toContain("log_exact");
    const population = await storedPopulation("log_exact");
    for (const arm of ["low", "mid", "high"]) {
      const expected = [...sent.perUser]
        .filter(([key]) => JSON.parse(key)[1] === arm)
        .reduce((p, [, stats]) => addUser(p, stats), addUser(undefined, { n: 0, sum: 0, sum_sq: 0 }));
      const actual = population?.agent_types.default?.[arm];
      expect(actual?.users).toBe(expected.users);
      expect(actual?.n).toBe(expected.n);
      expect(actual?.sum).toBe(expected.sum);
      expect(actual?.sum_sq).toBe(expected.sum_sq);
      expect(actual?.user_sum_sq).toBeCloseTo(expected.user_sum_sq, 9);
      expect(actual?.user_n_sq).toBe(expected.user_n_sq);
    }
  });

  it("counts a redelivered decision or reward once", async () => {
    await putSystem("log_redeliver", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const people = users(6);
    const sent = await play("log_redeliver", people, 3, 5);
    await flushLog("log_redeliver", people);
    const { results } = await env.DB.prepare("SELECT * FROM decisions WHERE system = 'log_redeliver'").all<DecisionRow>();
    expect(results.length).toBe(18);

    // Every row again, straight to D1 and through a shard (as after a lost acknowledgement or a shard restart).
    await writeDecisions(env.DB, results);
    const shard = shardStubOf("log_redeliver", "u0");
    await shard.append({ database: "DB", system: "log_redeliver" }, results);
    expect(await shard.pending()).toBe(18);
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    expect(await shard.pending()).toBe(0);

    expectTotals(await summaryArms("log_redeliver"), sent);
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM decisions WHERE system = 'log_redeliver'").first<{ n: number }>();
    expect(count?.n).toBe(18);
  });

  it("keeps a reward that arrives at the shard while the row's batch is in flight, and never a stale copy over it", async () => {
    await putSystem("log_race", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const s = await callJson<{ decision_id: string }>("POST", "/v1/systems/log_race/select", { user_id: "ann" });
    await flushLog("log_race", ["ann"]);
    const [row] = (await env.DB.prepare("SELECT * FROM decisions WHERE system = 'log_race'").all<DecisionRow>()).results;
    const rewarded = { ...(row as DecisionRow), reward: 1, engagement: 1, reward_source: "update", rewarded_at: new Date().toISOString() };
    const shard = shardStubOf("log_race", "ann");
    // The rewarded version, then a stale copy without the reward: the reward stays.
    await shard.append({ database: "DB", system: "log_race" }, [rewarded]);
    await shard.append({ database: "DB", system: "log_race" }, [row as DecisionRow]);
    await runDurableObjectAlarm(shard);
    const stored = await env.DB.prepare("SELECT reward FROM decisions WHERE decision_id = ?")
      .bind(s.body.decision_id)
      .first<{ reward: number }>();
    expect(stored?.reward).toBe(1);
    const arms = await summaryArms("log_race");
    expect(arms.reduce((n, a) => n + a.rewarded, 0)).toBe(1);
  });

  it("loses nothing when the objects and shards restart between hand-over and D1", async () => {
    await putSystem("log_restart", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const people = users(8, "r");
    const sent = await play("log_restart", people, 3, 9);
    for (const user of people) await runDurableObjectAlarm(armsStubOf("log_restart", user));
    const waiting = new Map(people.map((user) => [logShardName("DB", "log_restart", user), user]));
    let pending = 0;
    for (const user of waiting.values()) pending += await shardStubOf("log_restart", user).pending();
    expect(pending).toBe(24);
    // Every object's memory is gone, as after an eviction or a deploy: what the shards hold is on disk.
    await abortAllDurableObjects();
    for (const user of waiting.values()) await runDurableObjectAlarm(shardStubOf("log_restart", user));
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM decisions WHERE system = 'log_restart'").first<{ n: number }>();
    expect(count?.n).toBe(24);
    expectTotals(await summaryArms("log_restart"), sent);
  });

  it("takes no reward for a decision older than the system's retention, so arms and totals never disagree", async () => {
    await putSystem("log_expired", { ...THREE_ARMS, cache_ttl_seconds: 0, decision_retention_days: 3 });
    const old = await callJson<{ decision_id: string }>("POST", "/v1/systems/log_expired/select", { user_id: "ann" });
    const fresh = await callJson<{ decision_id: string }>("POST", "/v1/systems/log_expired/select", { user_id: "ann" });
    await flushLog("log_expired", ["ann"]);
    // The old decision is four days old, and the alarm has not pruned it yet.
    await runInDurableObject(armsStubOf("log_expired", "ann"), (_instance, state) => {
      state.storage.sql.exec(
        "UPDATE decisions SET created_at = created_at - ? WHERE decision_id = ?",
        4 * 86_400_000,
        old.body.decision_id,
      );
    });
    const late = await call("POST", "/v1/systems/log_expired/update", { user_id: "ann", decision_id: old.body.decision_id, reward: 1 });
    expect(late.status).toBe(404);
    expect(((await late.json()) as { error: { message: string } }).error.message).toMatch(/decision_retention_days \(3\)/);
    const arms = await callJson<{ arms: { total_pulls: number; alpha: number }[] }>("GET", "/v1/systems/log_expired/arms?user_id=ann");
    expect(arms.body.arms.every((a) => a.alpha === 1)).toBe(true);
    const ok = await call("POST", "/v1/systems/log_expired/update", { user_id: "ann", decision_id: fresh.body.decision_id, reward: 1 });
    expect(ok.status).toBe(200);
  });

  it("refreshes the population from rollup rows only", async () => {
    expect(POPULATION_QUERY).toMatch(/FROM decision_rollups/);
    expect(POPULATION_QUERY).not.toMatch(/FROM decisions\b/);
    await putSystem("log_rollups_only", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const people = users(12, "p");
    await play("log_rollups_only", people, 3, 7);
    await flushLog("log_rollups_only", people);
    await refreshPopulations(env);
    const before = await storedPopulation("log_rollups_only");
    expect(Object.keys(before?.agent_types.default ?? {}).length).toBeGreaterThan(0);

    // Without a single raw row, the next refresh finds the same statistics (and so writes no new version).
    await env.DB.prepare("DELETE FROM decisions WHERE system = 'log_rollups_only'").run();
    await env.DB.prepare("UPDATE systems SET population = NULL WHERE name = 'log_rollups_only'").run();
    clearSystemCache("log_rollups_only");
    expect(await refreshPopulations(env)).toContain("log_rollups_only");
    expect((await storedPopulation("log_rollups_only"))?.agent_types).toEqual(before?.agent_types);
  });

  it("writes a system's log to the database chosen when it was created, and keeps it there", async () => {
    const created = await call(
      "PUT",
      "/v1/systems/log_elsewhere",
      { ...THREE_ARMS, cache_ttl_seconds: 0 },
      {},
      { LOG_DATABASES: "LOG_DB_2" },
    );
    expect(created.status).toBe(200);
    const people = users(5, "e");
    const sent = await play("log_elsewhere", people, 2, 3);
    await flushLog("log_elsewhere", people, "default", "LOG_DB_2");
    const count = async (db: D1Database) =>
      (await db.prepare("SELECT COUNT(*) AS n FROM decisions WHERE system = 'log_elsewhere'").first<{ n: number }>())?.n;
    expect(await count(env.LOG_DB_2)).toBe(10);
    expect(await count(env.DB)).toBe(0);
    expectTotals(await summaryArms("log_elsewhere"), sent);
    // A later write of the system, under a deployment that lists other databases, does not move its log.
    await call("PUT", "/v1/systems/log_elsewhere", { ...THREE_ARMS, cache_ttl_seconds: 0 }, {}, { LOG_DATABASES: "DB" });
    const row = await env.DB.prepare("SELECT log_database FROM systems WHERE name = 'log_elsewhere'").first<{ log_database: string }>();
    expect(row?.log_database).toBe("LOG_DB_2");
  });
});
