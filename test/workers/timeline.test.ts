import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { SystemTimeline } from "../../src/runtime/schema.js";
import { call, callJson, flushLog, putSystem, THREE_ARMS, withSeededRandom } from "./helpers";

const HOUR_MS = 3_600_000;
const hourKey = (ms: number) => new Date(ms).toISOString().slice(0, 13);
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** Each user makes `rounds` selections through the service; a reward of 0, 0.5 or 1 for all but every fourth. */
async function play(system: string, users: string[], rounds: number) {
  const sent = new Map<string, { selections: number; rewarded: number; reward_sum: number }>();
  await withSeededRandom(5, async () => {
    let n = 0;
    for (const user of users) {
      for (let i = 0; i < rounds; i++, n++) {
        const s = await callJson<{ decision_id: string; arm_id: string }>("POST", `/v1/systems/${system}/select`, { user_id: user });
        expect(s.status).toBe(200);
        const arm = sent.get(s.body.arm_id) ?? { selections: 0, rewarded: 0, reward_sum: 0 };
        arm.selections += 1;
        sent.set(s.body.arm_id, arm);
        if (n % 4 === 3) continue;
        const reward = [0, 0.5, 1][n % 3] as number;
        const u = await callJson("POST", `/v1/systems/${system}/update`, { user_id: user, decision_id: s.body.decision_id, reward });
        expect(u.status).toBe(200);
        arm.rewarded += 1;
        arm.reward_sum += reward;
      }
    }
  });
  return sent;
}

async function timeline(system: string, query = ""): Promise<SystemTimeline> {
  const response = await callJson<SystemTimeline>("GET", `/v1/systems/${system}/timeline${query}`);
  expect(response.status).toBe(200);
  return response.body;
}

describe("the timeline", () => {
  it("gives each arm's hourly totals from the rollups: equal to what was sent, zero in empty hours, the same once the raw log is gone", async () => {
    await putSystem("timeline_totals", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const users = ["t0", "t1", "t2", "t3"];
    const sent = await play("timeline_totals", users, 6);
    await flushLog("timeline_totals", users);

    const before = await timeline("timeline_totals");
    expect(before.system).toBe("timeline_totals");
    expect(before.agent_type).toBeNull();
    // 168 hours by default, oldest first, one hour apart, ending with the current hour.
    expect(before.hours).toHaveLength(168);
    const last = Date.parse(before.hours[167] as string);
    expect(last).toBe(Math.floor(Date.now() / HOUR_MS) * HOUR_MS);
    expect(Date.parse(before.hours[0] as string)).toBe(last - 167 * HOUR_MS);
    expect(before.hours[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00:00Z$/);
    // The config's arms in its order, with their names; every array as long as the hours.
    expect(before.arms.map((a) => [a.arm_id, a.name])).toEqual([
      ["low", "Low"],
      ["mid", "Mid"],
      ["high", "High"],
    ]);
    for (const arm of before.arms) {
      for (const series of [arm.selections, arm.rewarded, arm.reward_sum]) expect(series).toHaveLength(168);
      const expected = sent.get(arm.arm_id) ?? { selections: 0, rewarded: 0, reward_sum: 0 };
      expect(sum(arm.selections)).toBe(expected.selections);
      expect(sum(arm.rewarded)).toBe(expected.rewarded);
      expect(sum(arm.reward_sum)).toBe(expected.reward_sum);
    }
    expect(sum([...sent.values()].map((s) => s.selections))).toBe(24);
    // All of it happened in the last hour or two: the hours before are zeros.
    for (const arm of before.arms) expect(arm.selections.slice(0, 166)).toEqual(new Array(166).fill(0));

    // The raw log gone (as retention or forgetting leaves it): the timeline, read from rollups, is unchanged.
    await env.DB.prepare("DELETE FROM decisions WHERE system = 'timeline_totals'").run();
    const after = await timeline("timeline_totals");
    expect(after.arms).toEqual(before.arms);
  });

  it("puts each rollup in its hour, keeps arms no longer configured, and filters by agent type", async () => {
    await putSystem("timeline_hours", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const now = Date.now();
    const rollup = (hoursAgo: number, agentType: string, arm: string, selections: number, rewarded: number, rewardSum: number) =>
      env.DB.prepare(
        "INSERT INTO decision_rollups (system, hour, agent_type, arm_id, selections, rewarded, reward_sum) VALUES ('timeline_hours', ?, ?, ?, ?, ?, ?)",
      ).bind(hourKey(now - hoursAgo * HOUR_MS), agentType, arm, selections, rewarded, rewardSum);
    await env.DB.batch([
      rollup(5, "default", "mid", 7, 4, 3),
      rollup(5, "other", "mid", 2, 2, 1),
      rollup(30, "default", "retired", 3, 1, 0.5),
      rollup(200, "default", "low", 9, 9, 9),
    ]);

    const day = await timeline("timeline_hours", "?hours=24");
    expect(day.hours).toHaveLength(24);
    const mid = day.arms.find((a) => a.arm_id === "mid");
    // Five hours before the current one: index 23 - 5. Both agent types together.
    expect(mid?.selections[18]).toBe(9);
    expect(mid?.rewarded[18]).toBe(6);
    expect(mid?.reward_sum[18]).toBe(4);
    expect(sum(mid?.selections ?? [])).toBe(9);
    // Out of the window: nothing of the retired arm or of 200 hours ago.
    expect(day.arms.map((a) => a.arm_id)).toEqual(["low", "mid", "high"]);
    expect(sum(day.arms[0]?.selections ?? [])).toBe(0);

    const month = await timeline("timeline_hours", "?hours=720");
    expect(month.hours).toHaveLength(720);
    expect(month.arms.map((a) => [a.arm_id, a.name])).toEqual([
      ["low", "Low"],
      ["mid", "Mid"],
      ["high", "High"],
      ["retired", null],
    ]);
    expect(month.arms[3]?.selections[719 - 30]).toBe(3);
    expect(month.arms[0]?.selections[719 - 200]).toBe(9);

    const other = await timeline("timeline_hours", "?hours=24&agent_type=other");
    expect(other.agent_type).toBe("other");
    expect(other.arms.find((a) => a.arm_id === "mid")?.selections[18]).toBe(2);
    expect(sum(other.arms.flatMap((a) => a.selections))).toBe(2);
  });

  it("refuses hours out of 1..720 or not a number in the error format, and answers 404 for an unknown system", async () => {
    await putSystem("timeline_bad", THREE_ARMS);
    for (const hours of ["0", "abc", "721", "-3", "1.5"]) {
      const response = await call("GET", `/v1/systems/timeline_bad/timeline?hours=${hours}`);
      expect(response.status, hours).toBe(400);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("invalid_request");
      expect(body.error.message).toContain("hours");
    }
    const unknown = await call("GET", "/v1/systems/no_such_timeline/timeline");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("unknown_system");
    // The admin scope: a runtime key may not read it.
    const key = await callJson<{ key: string }>("POST", "/v1/keys", { scope: "runtime" });
    const runtime = await call("GET", "/v1/systems/timeline_bad/timeline", undefined, { authorization: `Bearer ${key.body.key}` });
    expect(runtime.status).toBe(403);
  });
});
