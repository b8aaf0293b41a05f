import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ownerTag } from "../../src/runtime/decision-id.js";
import { app } from "../../workers/api/app";
import { call, callJson, putSystem, THREE_ARMS } from "./helpers";

/** Everything a request could write: D1 rows, Durable Objects, and ann's decisions and rewards not yet flushed. */
async function writes(): Promise<{ systems: number; decisions: number; objects: number; annPending: number }> {
  const count = async (table: string) =>
    ((await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first<{ n: number }>())?.n ?? 0) as number;
  const ann = env.ARMS.getByName(JSON.stringify(["strict", "default", "ann"]));
  return {
    systems: await count("systems"),
    decisions: await count("decisions"),
    objects: (await listDurableObjectIds(env.ARMS)).length,
    annPending: await ann.pendingFlush(),
  };
}

/** 2,000 levels of lists in 4 KB: a stack overflow for a recursive reader, a 400 here. */
const DEEP = "[".repeat(2000) + "]".repeat(2000);

let decisionId = "";

beforeAll(async () => {
  await putSystem("strict", THREE_ARMS);
  decisionId = (await callJson<{ decision_id: string }>("POST", "/v1/systems/strict/select", { user_id: "ann" })).body.decision_id;
});

type Case = [label: string, method: string, path: string, body: unknown, status: number, code: string, headers?: Record<string, string>];

const cases: Case[] = [
  ["malformed JSON", "POST", "/v1/systems/strict/select", '{"user_id": "ann"', 400, "malformed_json"],
  ["a body that is not an object", "POST", "/v1/systems/strict/select", "[1, 2]", 400, "invalid_request"],
  ["a missing user_id", "POST", "/v1/systems/strict/select", {}, 400, "invalid_request"],
  ["a user_id of the wrong type", "POST", "/v1/systems/strict/select", { user_id: 42 }, 400, "invalid_request"],
  [
    "a reward above 1",
    "POST",
    "/v1/systems/strict/update",
    { user_id: "ann", decision_id: "DECISION", reward: 1.5 },
    400,
    "invalid_request",
  ],
  [
    "a reward below 0",
    "POST",
    "/v1/systems/strict/update",
    { user_id: "ann", decision_id: "DECISION", reward: -0.1 },
    400,
    "invalid_request",
  ],
  [
    "a reward given as text",
    "POST",
    "/v1/systems/strict/update",
    { user_id: "ann", decision_id: "DECISION", reward: "NaN" },
    400,
    "invalid_request",
  ],
  [
    "a reward that overflows to Infinity",
    "POST",
    "/v1/systems/strict/update",
    '{"user_id":"ann","decision_id":"x","reward":1e999}',
    400,
    "invalid_request",
  ],
  ["an agent type with a separator", "POST", "/v1/systems/strict/select", { user_id: "ann", agent_type: "a~b" }, 400, "invalid_request"],
  ["an unknown system (select)", "POST", "/v1/systems/nosuch/select", { user_id: "ann" }, 404, "unknown_system"],
  [
    "an unknown system (update)",
    "POST",
    "/v1/systems/nosuch/update",
    { user_id: "ann", decision_id: "DECISION", reward: 1 },
    404,
    "unknown_system",
  ],
  [
    "an unknown decision",
    "POST",
    "/v1/systems/strict/update",
    { user_id: "ann", decision_id: "not-a-decision", reward: 1 },
    404,
    "unknown_decision",
  ],
  ["a bad system name", "PUT", "/v1/systems/bad%20name", THREE_ARMS, 400, "invalid_request"],
  [
    "a config with duplicate arms",
    "PUT",
    "/v1/systems/dup_arms",
    { default_arms: [{ arm_id: "a" }, { arm_id: "a" }] },
    400,
    "invalid_request",
  ],
  ["a config of the wrong type", "PUT", "/v1/systems/typed", { default_arms: "many" }, 400, "invalid_request"],
  ["a missing key", "POST", "/v1/systems/strict/select", { user_id: "ann" }, 401, "unauthorized", { authorization: "" }],
  ["a wrong key", "POST", "/v1/systems/strict/select", { user_id: "ann" }, 401, "unauthorized", { authorization: "Bearer nope" }],
  [
    "an oversized body",
    "POST",
    "/v1/systems/strict/select",
    { user_id: "ann", context: { blob: "x".repeat(300 * 1024) } },
    413,
    "body_too_large",
  ],
  ["an unknown route", "GET", "/v1/nothing/here", undefined, 404, "not_found"],
  // Issue 12: every input bounded.
  [
    "JSON nested 2,000 levels deep (select)",
    "POST",
    "/v1/systems/strict/select",
    `{"user_id":"ann","context":{"a":${DEEP}}}`,
    400,
    "too_deep",
  ],
  [
    "JSON nested 2,000 levels deep (a system)",
    "PUT",
    "/v1/systems/deep",
    `{"default_arms":[{"arm_id":"a","params":{"p":${DEEP}}}]}`,
    400,
    "too_deep",
  ],
  [
    "a misspelt key in a runtime config",
    "PUT",
    "/v1/systems/typo",
    { default_arms: [{ arm_id: "a", parms: { k: 1 } }] },
    400,
    "invalid_request",
  ],
  ["an arm id with a control character", "PUT", "/v1/systems/ctrl", { default_arms: [{ arm_id: "a\u0007" }] }, 400, "invalid_request"],
  [
    "a context over 8 KiB",
    "POST",
    "/v1/systems/strict/select",
    { user_id: "ann", context: { blob: "x".repeat(9000) } },
    400,
    "invalid_request",
  ],
  [
    "metadata over 8 KiB",
    "POST",
    "/v1/systems/strict/update",
    { user_id: "ann", decision_id: "DECISION", reward: 1, metadata: { blob: "x".repeat(9000) } },
    400,
    "invalid_request",
  ],
  [
    "signals to a system without a reward_evaluator",
    "POST",
    "/v1/systems/strict/update",
    { user_id: "ann", decision_id: "DECISION", signals: { clicks: 3 } },
    400,
    "invalid_request",
  ],
  ["'..' as the system to promote to", "POST", "/v1/runs/some-run/promote", { system: ".." }, 400, "invalid_request"],
];

describe("bad input", () => {
  it.each(cases)("%s answers %i in the error format and writes nothing", async (_label, method, path, rawBody, status, code, headers) => {
    const body =
      typeof rawBody === "object" && rawBody !== null ? JSON.parse(JSON.stringify(rawBody).replace("DECISION", decisionId)) : rawBody;
    const before = await writes();
    const response = await call(method, path, body, headers);
    expect(response.status).toBe(status);
    const payload = (await response.json()) as { error: { code: string; message: string; details?: { path: string }[] } };
    expect(payload.error.code).toBe(code);
    expect(payload.error.message.length).toBeGreaterThan(5);
    expect(await writes()).toEqual(before);
    const arms = await callJson<{ arms: { total_pulls: number }[] }>("GET", "/v1/systems/strict/arms?user_id=ann");
    expect(arms.body.arms.every((a) => a.total_pulls === 0)).toBe(true);
  });

  it("answers 404 for a well-formed decision of a user never seen, and stores nothing for them", async () => {
    const before = await writes();
    const forged = `default~${ownerTag("strict", "default", "nobody")}~1-abc`;
    const response = await callJson<{ error: { code: string } }>("POST", "/v1/systems/strict/update", {
      user_id: "nobody",
      decision_id: forged,
      reward: 1,
    });
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe("unknown_decision");
    const after = await writes();
    expect({ ...after, objects: 0 }).toEqual({ ...before, objects: 0 });
    await runInDurableObject(env.ARMS.getByName(JSON.stringify(["strict", "default", "nobody"])), (_instance, state) => {
      expect(state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray()).toEqual([]);
    });
  });

  it("names the field in validation details", async () => {
    const response = await callJson<{ error: { details: { path: string; message: string }[] } }>("POST", "/v1/systems/strict/update", {
      user_id: "ann",
      decision_id: decisionId,
      reward: 2,
    });
    expect(response.body.error.details[0]?.path).toBe("reward");
  });

  it("refuses every /v1 call when no key is configured", async () => {
    const response = await app.request(
      "/v1/ping",
      { headers: { authorization: "Bearer anything" } },
      { ...env, CONVERGENCE_API_KEY: undefined },
    );
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("no_api_key_configured");
  });
});
