/**
 * Issue 12, part 4, on the wire: documents built to expand or nest without end, oversized bodies and configs past
 * their bounds get a 4xx in the error format that says what was exceeded, and nothing is written.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { ControlMessage } from "../../workers/env";
import worker from "../../workers/index";
import { call, callJson, putSystem, THREE_ARMS } from "./helpers";

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}

const DEEP = "[".repeat(2000) + "]".repeat(2000);

async function count(table: string): Promise<number> {
  return (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first<{ n: number }>())?.n ?? 0;
}

async function errorOf(response: Response): Promise<{ status: number; error: ErrorBody["error"] }> {
  return { status: response.status, error: ((await response.json()) as ErrorBody).error };
}

function mockRun(overrides: { api?: object; pad?: number } = {}) {
  return {
    api: { name: "bounds", mock_mode: true, ...overrides.api },
    search_space: { parameters: { temperature: { type: "float", min: 0, max: 1 } } },
    evaluation: {
      test_cases: { inline: [{ id: "a", input: { prompt: "x".repeat(overrides.pad ?? 1) } }] },
      metrics: { quality: { type: "llm_judge" } },
    },
  };
}

const yaml = (text: string) => call("POST", "/v1/runs", text, { "content-type": "application/yaml" });

beforeAll(async () => {
  await putSystem("bounded", THREE_ARMS);
});

describe("every input bounded", () => {
  it("answers 400 too_deep to JSON nested 2,000 levels deep on every route with a body, and writes nothing", async () => {
    const before = { systems: await count("systems"), runs: await count("runs"), decisions: await count("decisions") };
    const routes: [string, string, string][] = [
      ["PUT", "/v1/systems/deep", `{"default_arms":${DEEP}}`],
      ["POST", "/v1/systems/bounded/select", `{"user_id":"u","context":{"a":${DEEP}}}`],
      ["POST", "/v1/systems/bounded/update", `{"user_id":"u","decision_id":"d","metadata":{"a":${DEEP}}}`],
      ["POST", "/v1/systems/bounded/evaluate", `{"policy":${DEEP}}`],
      ["POST", "/v1/runs", `{"api":${DEEP}}`],
      ["POST", "/v1/runs/some-run/promote", `{"system":${DEEP}}`],
    ];
    for (const [method, path, body] of routes) {
      const { status, error } = await errorOf(await call(method, path, body));
      expect({ path, status, code: error.code }).toEqual({ path, status: 400, code: "too_deep" });
      expect(error.message).toBe("the request body nests lists and objects more than 64 levels deep");
    }
    // Sent as another type it is never read as JSON: refused for its type, not parsed.
    const plain = await call("POST", "/v1/systems/bounded/select", `{"user_id":${DEEP}}`, { "content-type": "text/plain" });
    expect(plain.status).toBe(415);
    expect({ systems: await count("systems"), runs: await count("runs"), decisions: await count("decisions") }).toEqual(before);
  });

  it("refuses a YAML config of one anchored list aliased 990 times, starting nothing", async () => {
    const words = Array.from({ length: 20_000 }, () => "xxxxxxxxx").join(",");
    const bomb = `a: &a [${words}]\nb: [${Array.from({ length: 990 }, () => "*a").join(",")}]\n`;
    const runs = await count("runs");
    const { status, error } = await errorOf(await yaml(bomb));
    expect(status).toBe(400);
    expect(error.code).toBe("malformed_yaml");
    expect(error.message).toMatch(/^the request body expands to more than 1 MiB \(line 2\) through its aliases/);
    expect(await count("runs")).toBe(runs);
  });

  it("finds a repeated key among 20,000 in a YAML config, and refuses YAML nested 2,000 deep", async () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `k${i}: ${i}`).join("\n");
    const repeated = await errorOf(await yaml(`${keys}\nk7: 0\n`));
    expect(repeated.status).toBe(400);
    expect(repeated.error.message).toBe("the request body has the key k7 twice (lines 8 and 20001)");
    const deep = await errorOf(await yaml(`api: ${DEEP}\n`));
    expect(deep.status).toBe(400);
    expect(deep.error.message).toMatch(/^the request body nests lists and mappings more than 64 levels deep/);
  });

  it("lets POST /v1/runs take bodies up to 1 MiB, and names the limit that applies in each 413", async () => {
    // 600 KB: over the runtime routes' 256 KiB, within the runs' 1 MiB. Invalid only for its mock latency.
    const big = mockRun({ api: { mock_latency_ms: 60_001 }, pad: 600_000 });
    const invalid = await errorOf(await call("POST", "/v1/runs", big));
    expect(invalid.status).toBe(400);
    expect(invalid.error.code).toBe("invalid_config");
    expect(invalid.error.details).toEqual([{ path: "api.mock_latency_ms", message: "at most 60,000 ms" }]);
    const tooBig = await errorOf(await call("POST", "/v1/runs", mockRun({ pad: 1_100_000 })));
    expect(tooBig).toEqual({ status: 413, error: { code: "body_too_large", message: "this request's body is limited to 1 MiB" } });
    const cancel = await errorOf(await call("POST", "/v1/runs/some-run/cancel", { pad: "x".repeat(300 * 1024) }));
    expect(cancel).toEqual({ status: 413, error: { code: "body_too_large", message: "this request's body is limited to 256 KiB" } });
    const select = await errorOf(await call("POST", "/v1/systems/bounded/select", { user_id: "u", pad: "x".repeat(300 * 1024) }));
    expect(select.error.message).toBe("this request's body is limited to 256 KiB");
  });

  it("refuses a run config past the bounds that keep a proposal short, by path", async () => {
    const config = mockRun();
    const values = Array.from({ length: 1_001 }, (_, i) => `v${i}`);
    const { status, error } = await errorOf(
      await call("POST", "/v1/runs", { ...config, search_space: { parameters: { style: { type: "categorical", values } } } }),
    );
    expect(status).toBe(400);
    expect(error.details).toEqual([{ path: "search_space.parameters.style.values", message: "at most 1,000 values per parameter" }]);
  });

  it("names a misspelt key of a runtime config, and creates no system", async () => {
    const { status, error } = await errorOf(
      await call("PUT", "/v1/systems/misspelt", { default_arms: [{ arm_id: "a", parms: { k: 1 } }] }),
    );
    expect(status).toBe(400);
    expect(error.message).toBe("default_arms[0]: unknown key 'parms' (did you mean params?)");
    expect((await call("GET", "/v1/systems/misspelt")).status).toBe(404);
  });

  it("refuses signals for a system without a reward_evaluator, leaving the decision unrewarded", async () => {
    const selection = await callJson<{ decision_id: string }>("POST", "/v1/systems/bounded/select", { user_id: "sig" });
    const decisionId = selection.body.decision_id;
    const refused = await errorOf(
      await call("POST", "/v1/systems/bounded/update", { user_id: "sig", decision_id: decisionId, signals: { clicks: 2 } }),
    );
    expect(refused.status).toBe(400);
    expect(refused.error.message).toBe("signals: this system has no reward_evaluator: send reward, or configure reward_evaluator");
    expect(refused.error.details).toEqual([
      { path: "signals", message: "this system has no reward_evaluator: send reward, or configure reward_evaluator" },
    ]);
    const decision = await callJson<{ reward: number | null }>("GET", `/v1/systems/bounded/decisions/${decisionId}?user_id=sig`);
    expect(decision.body.reward).toBeNull();
    const arms = await callJson<{ arms: { total_pulls: number }[] }>("GET", "/v1/systems/bounded/arms?user_id=sig");
    expect(arms.body.arms.every((a) => a.total_pulls === 0)).toBe(true);
  });
});

describe("a config stored before a bound existed", () => {
  it("answers 409 naming the problem and the fix, and works again once written anew", async () => {
    // As an earlier version could have stored it: an arm's params over today's 8 KiB.
    const stale = { ...THREE_ARMS, default_arms: [{ arm_id: "long", params: { prompt: "p".repeat(9000) } }] };
    const now = new Date().toISOString();
    await env.DB.prepare("INSERT INTO systems (name, config, version, created_at, updated_at) VALUES (?, ?, 1, ?, ?)")
      .bind("stale_sys", JSON.stringify(stale), now, now)
      .run();
    const refused = await errorOf(await call("POST", "/v1/systems/stale_sys/select", { user_id: "u" }));
    expect(refused.status).toBe(409);
    expect(refused.error.code).toBe("stored_config_invalid");
    expect(refused.error.message).toContain("default_arms.0.params");
    expect(refused.error.message).toContain("PUT /v1/systems/stale_sys");
    // Other systems are unaffected, and writing the config again mends it.
    expect((await call("POST", "/v1/systems/bounded/select", { user_id: "u" })).status).toBe(200);
    // A scheduled run of it is dropped, not retried without end (retrying cannot help until it is written again).
    const batch = createMessageBatch<ControlMessage>("convergence-control", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: { kind: "reoptimize", system: "stale_sys", scheduled_time: Date.now() } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    const outcome = await getQueueResult(batch, ctx);
    expect(outcome.explicitAcks).toEqual(["m1"]);
    expect(outcome.retryMessages).toEqual([]);
    await putSystem("stale_sys", { default_arms: [{ arm_id: "short", params: { prompt: "p" } }] });
    expect((await call("POST", "/v1/systems/stale_sys/select", { user_id: "u" })).status).toBe(200);
  });
});

describe("a body sent where no route takes one", () => {
  it("is refused at the body limit, not read whole", async () => {
    const big = JSON.stringify({ pad: "x".repeat(8 * 1024 * 1024) });
    for (const path of ["/v1/ping", "/v1/nope"]) {
      const { status, error } = await errorOf(await call("POST", path, big));
      expect(status, path).toBe(413);
      expect(error.message).toBe("this request's body is limited to 256 KiB");
    }
  });
});
