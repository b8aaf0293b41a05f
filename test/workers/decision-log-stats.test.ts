import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DecisionLogStats } from "../../src/runtime/schema.js";
import { DEFAULT_LOG_DATABASE } from "../../workers/db/log-database";
import { LOG_SHARDS, logShardName } from "../../workers/objects/log-shards";
import { armsStubOf, call, callJson, flushLog, putSystem, THREE_ARMS } from "./helpers";

const users = Array.from({ length: 24 }, (_, i) => `stats_user_${i}`);

describe("GET /v1/systems/{system}/log", () => {
  it("adds up the system's shards: rows waiting, D1 batch calls, rows written, flush latency", async () => {
    await putSystem("log_stats", { ...THREE_ARMS, cache_ttl_seconds: 0 });
    const empty = await callJson<DecisionLogStats>("GET", "/v1/systems/log_stats/log");
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({
      system: "log_stats",
      database: DEFAULT_LOG_DATABASE,
      shards: LOG_SHARDS,
      pending: 0,
      d1_batches: 0,
      d1_failed_batches: 0,
      rows_written: 0,
      d1_write_ms: 0,
      flush_latency_ms: { rows: 0, p50: null, p99: null },
    });

    const decisions: string[] = [];
    for (const user of users) {
      for (let i = 0; i < 3; i++) {
        const s = await callJson<{ decision_id: string }>("POST", "/v1/systems/log_stats/select", { user_id: user });
        expect(s.status).toBe(200);
        decisions.push(s.body.decision_id);
        const u = await call("POST", "/v1/systems/log_stats/update", { user_id: user, decision_id: s.body.decision_id, reward: i / 2 });
        expect(u.status).toBe(200);
      }
    }

    // Handed to the shards, not yet in D1: every decision waits, with its reward, as one row.
    for (const user of users) await runDurableObjectAlarm(armsStubOf("log_stats", user));
    const waiting = (await callJson<DecisionLogStats>("GET", "/v1/systems/log_stats/log")).body;
    expect(waiting.pending).toBe(decisions.length);
    expect(waiting.d1_batches).toBe(0);

    await flushLog("log_stats", users);
    const done = (await callJson<DecisionLogStats>("GET", "/v1/systems/log_stats/log")).body;
    const shardsUsed = new Set(users.map((user) => logShardName(DEFAULT_LOG_DATABASE, "log_stats", user))).size;
    expect(done.pending).toBe(0);
    // Fewer than FLUSH_ROWS rows per shard: one D1 call per shard that had rows.
    expect(done.d1_batches).toBe(shardsUsed);
    expect(done.rows_written).toBe(decisions.length);
    expect(done.flush_latency_ms.rows).toBe(decisions.length);
    expect(done.d1_write_ms).toBeGreaterThanOrEqual(0);
    expect(done.flush_latency_ms.p50).toBeGreaterThan(0);
    expect(done.flush_latency_ms.p99 as number).toBeGreaterThanOrEqual(done.flush_latency_ms.p50 as number);

    const { results } = await env.DB.prepare("SELECT COUNT(*) AS n FROM decisions WHERE system = 'log_stats'").all<{ n: number }>();
    expect(results[0]?.n).toBe(decisions.length);
  });

  it("answers 404 for an unknown system and needs the admin scope", async () => {
    expect((await call("GET", "/v1/systems/no_such_system/log")).status).toBe(404);
    const made = await callJson<{ key: string }>("POST", "/v1/keys", { scope: "runtime", systems: ["log_stats"] });
    expect(made.status).toBe(201);
    const response = await call("GET", "/v1/systems/log_stats/log", undefined, { authorization: `Bearer ${made.body.key}` });
    expect(response.status).toBe(403);
  });
});
