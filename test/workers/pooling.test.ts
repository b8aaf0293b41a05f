import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type DecisionRow, writeDecisions } from "../../workers/db/decisions";
import { refreshPopulations } from "../../workers/db/population";
import { callJson, putSystem, THREE_ARMS, withSeededRandom } from "./helpers";

/**
 * Decisions of `users` users, as the log shards write them, rewarded by each arm's rate: each reward carries its
 * change to the (user, arm, day) unit, as the user's ArmsObject computes it.
 */
async function logDecisions(system: string, users: number, rates: Record<string, number>): Promise<void> {
  const rows: DecisionRow[] = [];
  const createdAt = new Date().toISOString();
  for (let u = 0; u < users; u++) {
    for (const [arm, rate] of Object.entries(rates)) {
      let sum = 0;
      for (let i = 0; i < 6; i++) {
        // Deterministic rewards at the arm's rate: the first round(6 x rate) are 1.
        const reward = i < Math.round(6 * rate) ? 1 : 0;
        const unitSumSq = ((sum + reward) * (sum + reward)) / (i + 1) - (i > 0 ? (sum * sum) / i : 0);
        sum += reward;
        rows.push({
          ...{ decision_id: `${system}-${u}-${arm}-${i}`, system, agent_type: "default", user_id: `user${u}`, arm_id: arm },
          ...{ params: "{}", selection_probability: 0.5, context: "{}", created_at: createdAt, reward, engagement: reward },
          ...{ grading: null, reward_source: "update", rewarded_at: createdAt, update_metadata: null, arms_snapshot: null },
          ...{ unit_new: i === 0 ? 1 : 0, unit_sum_sq: unitSumSq, unit_n_sq: 2 * i + 1 },
        });
      }
    }
  }
  await writeDecisions(env.DB, rows);
}

interface ArmView {
  arm_id: string;
  alpha: number;
  beta: number;
  mean: number;
}

describe("pooled priors on the service", () => {
  it("refreshes each system's population from the decision log on the cron, and a new user starts from it", async () => {
    await putSystem("pooled", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    await putSystem("alone", { ...THREE_ARMS, cache_ttl_seconds: 0, pooling: { enabled: false } });
    for (const system of ["pooled", "alone"]) await logDecisions(system, 30, { low: 0.2, mid: 0.5, high: 0.8 });
    const before = await callJson<{ version: number }>("GET", "/v1/systems/pooled");

    const changed = await refreshPopulations(env);
    expect(changed).toContain("pooled");
    expect(changed).not.toContain("alone");
    const after = await callJson<{ version: number }>("GET", "/v1/systems/pooled");
    expect(after.body.version).toBe(before.body.version + 1);

    // A user never seen: the arms show the population's prior, strongest where users agree.
    const arms = await callJson<{ arms: ArmView[] }>("GET", "/v1/systems/pooled/arms?user_id=newcomer");
    const byId = Object.fromEntries(arms.body.arms.map((a) => [a.arm_id, a]));
    expect(byId.high?.mean).toBeGreaterThan(0.75);
    expect(byId.low?.mean).toBeLessThan(0.25);
    expect((byId.high?.alpha ?? 0) + (byId.high?.beta ?? 0)).toBeGreaterThan(20);
    const alone = await callJson<{ arms: ArmView[] }>("GET", "/v1/systems/alone/arms?user_id=newcomer");
    for (const arm of alone.body.arms) expect(arm).toMatchObject({ alpha: 1, beta: 1 });

    // Their first select goes to the best arm almost always, and is logged with that probability (the worker's
    // Thompson draws seeded).
    const { result: high } = await withSeededRandom(3, async () => {
      let high = 0;
      for (let u = 0; u < 20; u++) {
        const s = await callJson<{ arm_id: string; selection_probability: number }>("POST", "/v1/systems/pooled/select", {
          user_id: `new${u}`,
        });
        if (s.body.arm_id === "high") high++;
        if (s.body.arm_id === "high") expect(s.body.selection_probability).toBeGreaterThan(0.9);
      }
      return high;
    });
    expect(high).toBeGreaterThanOrEqual(18);

    // Nothing new in the log: the next refresh writes nothing and the version stays.
    expect(await refreshPopulations(env)).not.toContain("pooled");
    expect((await callJson<{ version: number }>("GET", "/v1/systems/pooled")).body.version).toBe(after.body.version);
  });
});
