import { afterEach, describe, expect, it } from "vitest";
import { ApiSchema, type TestCase } from "../../src/config/schema.js";
import { extractText, extractUsage } from "../../src/target/extract.js";
import { backoffMs, retryAfterMs } from "../../src/target/fetch-retry.js";
import { httpTarget } from "../../src/target/http.js";
import { mockOptimum, mockResponse, surfaceQuality } from "../../src/target/mock.js";
import { costOf } from "../../src/target/pricing.js";
import { chatCompletion, json, startServer } from "../helpers/server.js";

const testCase: TestCase = {
  id: "t1",
  input: { messages: [{ role: "user", content: "Hi" }], temperature: 0.1 },
  expected: {},
  metadata: {},
  weight: 1,
};
let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

async function serve(handler: Parameters<typeof startServer>[0]) {
  const server = await startServer(handler);
  close = server.close;
  return server;
}

function api(endpoint: string, extra: object = {}) {
  return ApiSchema.parse({
    name: "t",
    endpoint,
    request: { timeout_seconds: 2, retry_base_delay_ms: 10, retry_max_delay_ms: 50 },
    ...extra,
  });
}

describe("requests", () => {
  it("posts the test case input merged with the parameters (a parameter wins a clash), with bearer auth", async () => {
    const server = await serve((_req, res) => json(res, 200, chatCompletion("Hello!")));
    const target = httpTarget({
      api: api(`${server.url}/v1/chat`, { auth: { type: "bearer", token_env: "MY_KEY" } }),
      env: { MY_KEY: "secret-1" },
      maxRetries: 0,
    });
    const response = await target({ model: "gpt-4o-mini", temperature: 0.7 }, testCase);
    expect(response).toMatchObject({
      ok: true,
      status: 200,
      text: "Hello!",
      usage: { input_tokens: 1000, output_tokens: 500 },
      model: "gpt-4o-mini",
    });
    expect(response.cost_usd).toBeCloseTo(1 * 0.00015 + 0.5 * 0.0006, 10);
    const [request] = server.requests;
    expect(request?.method).toBe("POST");
    expect(JSON.parse(request?.body ?? "")).toEqual({
      messages: [{ role: "user", content: "Hi" }],
      temperature: 0.7,
      model: "gpt-4o-mini",
    });
    expect(request?.headers.authorization).toBe("Bearer secret-1");
    expect(request?.headers["content-type"]).toBe("application/json");
  });

  it("sends GET parameters as a query string, api_key auth in its header, basic auth encoded", async () => {
    const server = await serve((_req, res) => json(res, 200, { results: ["a", "b"] }));
    const get = httpTarget({
      api: api(`${server.url}/search?v=1`, {
        request: { method: "get" },
        auth: { type: "api_key", token_env: "K", header_name: "api-key" },
      }),
      env: { K: "k1" },
      maxRetries: 0,
    });
    await get({ limit: 5, types: ["a", "b"] }, { ...testCase, input: { query: "cats" } });
    const url = new URL(server.requests[0]?.url ?? "", server.url);
    expect(server.requests[0]?.method).toBe("GET");
    expect(Object.fromEntries(url.searchParams)).toEqual({ v: "1", query: "cats", limit: "5", types: '["a","b"]' });
    expect(server.requests[0]?.headers["api-key"]).toBe("k1");
    const basic = httpTarget({
      api: api(server.url, { auth: { type: "basic", username: "ann", password_env: "PW" } }),
      env: { PW: "pä55" },
      maxRetries: 0,
    });
    await basic({}, testCase);
    expect(server.requests[1]?.headers.authorization).toBe(`Basic ${Buffer.from("ann:pä55").toString("base64")}`);
  });

  it("refuses a key with a control character without quoting it, and scrubs the key from what a server says", async () => {
    const server = await serve((req, res) => json(res, 401, { error: `invalid key: ${req.headers.authorization}` }));
    const bad = await httpTarget({
      api: api(server.url, { auth: { type: "bearer", token_env: "K" } }),
      env: { K: "sk-SEC\nRET123" },
      maxRetries: 2,
    })({}, testCase);
    expect(bad).toMatchObject({
      ok: false,
      attempts: 0,
      error: "environment variable K (named by api.auth.token_env) holds a control character such as a newline",
    });
    expect(server.requests).toHaveLength(0);
    const echoed = await httpTarget({
      api: api(server.url, { auth: { type: "bearer", token_env: "K" } }),
      env: { K: "sk-marker-7f3a" },
      maxRetries: 0,
    })({}, testCase);
    expect(echoed.error).toContain("[redacted]");
    expect(echoed.error).not.toContain("sk-marker-7f3a");
  });

  it("fills a body template, keeping types, and puts a query-string key in the URL", async () => {
    const server = await serve((_req, res) => json(res, 200, chatCompletion("ok")));
    const target = httpTarget({
      api: api(server.url, {
        auth: { type: "query", token_env: "Q_KEY", query_param: "api_key" },
        request: {
          body_template: {
            contents: [{ parts: [{ text: "{{input.messages.0.content}}" }] }],
            generationConfig: { temperature: "{{params.temperature}}", note: "t={{params.temperature}}" },
          },
        },
      }),
      env: { Q_KEY: "q-1" },
      maxRetries: 0,
    });
    await target({ temperature: 0.4 }, testCase);
    expect(JSON.parse(server.requests[0]?.body ?? "")).toEqual({
      contents: [{ parts: [{ text: "Hi" }] }],
      generationConfig: { temperature: 0.4, note: "t=0.4" },
    });
    expect(new URL(server.requests[0]?.url ?? "", server.url).searchParams.get("api_key")).toBe("q-1");
    const missing = await target({}, testCase);
    expect(missing.error).toBe("api.request.body_template: params.temperature is not set");
  });

  it("fails without calling when the key's variable is not set, and never puts the key in the error", async () => {
    const server = await serve((_req, res) => json(res, 200, {}));
    const target = httpTarget({ api: api(server.url, { auth: { type: "bearer", token_env: "ABSENT_KEY" } }), env: {}, maxRetries: 3 });
    const response = await target({}, testCase);
    expect(response).toMatchObject({
      ok: false,
      attempts: 0,
      error: "environment variable ABSENT_KEY is not set (named by api.auth.token_env)",
    });
    expect(server.requests).toHaveLength(0);
  });
});

describe("retries", () => {
  it("waits what Retry-After says after a 429, backs off exponentially after a 5xx, then succeeds", async () => {
    const server = await serve((_req, res, i) => {
      if (i === 0) return json(res, 429, { error: "slow down" }, { "retry-after": "3" });
      if (i === 1) return json(res, 503, { error: "busy" });
      if (i === 2) return json(res, 502, { error: "bad gateway" });
      json(res, 200, chatCompletion("fourth time"));
    });
    const waits: number[] = [];
    const target = httpTarget({
      api: api(server.url, { request: { retry_base_delay_ms: 100, retry_max_delay_ms: 10_000 } }),
      env: {},
      maxRetries: 3,
      random: () => 1,
      sleep: async (ms) => void waits.push(ms),
    });
    const response = await target({}, testCase);
    expect(response).toMatchObject({ ok: true, text: "fourth time", attempts: 4 });
    expect(server.requests).toHaveLength(4);
    // Retry-After: 3 s; then the second and third backoff steps (100 ms x 2^1, x 2^2, jitter pinned at its top).
    expect(waits).toEqual([3000, 200, 400]);
  });

  it("gives up after max_retries and reports the last error", async () => {
    const server = await serve((_req, res) => json(res, 500, { error: "boom" }));
    const response = await httpTarget({ api: api(server.url), env: {}, maxRetries: 2 })({}, testCase);
    expect(response.ok).toBe(false);
    expect(response.error).toMatch(/^HTTP 500: .*boom.* \(after 3 attempts\)$/);
    expect(server.requests).toHaveLength(3);
  });

  it("does not retry a 400", async () => {
    const server = await serve((_req, res) => json(res, 400, { error: "bad request" }));
    const response = await httpTarget({ api: api(server.url), env: {}, maxRetries: 3 })({}, testCase);
    expect(response).toMatchObject({ ok: false, status: 400, attempts: 1 });
    expect(server.requests).toHaveLength(1);
  });

  it("times out a slow answer and retries it", async () => {
    // The first answer comes only once the retry has arrived (so only after the client gave up on it), whatever
    // the machine's speed; the retry's answer comes at once, well within the 2 s timeout.
    let retried: () => void = () => {};
    const retry = new Promise<void>((resolve) => (retried = resolve));
    const server = await serve(async (_req, res, i) => {
      if (i > 0) {
        retried();
        return json(res, 200, chatCompletion("on time"));
      }
      await Promise.race([retry, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      if (!res.destroyed) json(res, 200, chatCompletion("late"));
    });
    const response = await httpTarget({ api: api(server.url), env: {}, maxRetries: 1 })({}, testCase);
    expect(response).toMatchObject({ ok: true, text: "on time", attempts: 2 });
    expect(server.requests).toHaveLength(2);
  });

  it("reports an unreachable host as a failure", async () => {
    const server = await serve((_req, res) => json(res, 200, {}));
    const url = server.url;
    await server.close();
    close = null;
    const response = await httpTarget({ api: api(url), env: {}, maxRetries: 1 })({}, testCase);
    expect(response.ok).toBe(false);
    expect(response.error).toMatch(/ECONNREFUSED|fetch failed/);
  });

  it("reads Retry-After as seconds or a date, and backs off exponentially with jitter", () => {
    expect(retryAfterMs("2")).toBe(2000);
    const now = Date.UTC(2025, 0, 1, 12);
    expect(retryAfterMs(new Date(now + 5000).toUTCString(), now)).toBe(5000);
    expect(retryAfterMs("soon")).toBeNull();
    expect(backoffMs(0, 500, 20000, () => 0)).toBe(250);
    expect(backoffMs(3, 500, 20000, () => 1)).toBe(4000);
    expect(backoffMs(10, 500, 20000, () => 1)).toBe(20000);
  });
});

describe("responses", () => {
  it("extracts the answer of OpenAI Responses, Chat Completions, Anthropic and a result_field path", () => {
    const responses = {
      output: [{ type: "message", content: [{ type: "output_text", text: "from responses" }] }],
      usage: { input_tokens: 3, output_tokens: 4 },
    };
    expect(extractText(responses)).toBe("from responses");
    expect(extractUsage(responses)).toEqual({ input_tokens: 3, output_tokens: 4 });
    expect(extractText(chatCompletion("from chat"))).toBe("from chat");
    expect(extractText({ content: [{ type: "text", text: "from claude" }], usage: { input_tokens: 1, output_tokens: 2 } })).toBe(
      "from claude",
    );
    expect(extractText({ data: { answers: [{ text: "deep" }] } }, "data.answers[0].text")).toBe("deep");
    expect(extractText({ output: responses.output }, "output")).toBe("from responses");
    // A result_field path only walks the response's own fields, never an object's prototype.
    expect(extractText({ text: "plain" }, "constructor.name")).toBe("plain");
  });

  it("honours success_field and error_field", async () => {
    const server = await serve((_req, res, i) =>
      json(res, 200, i === 0 ? { status: "failed", error: { message: "quota" } } : { status: "completed", error: null, output_text: "ok" }),
    );
    const target = httpTarget({
      api: api(server.url, { response: { success_field: "status", error_field: "error" } }),
      env: {},
      maxRetries: 0,
    });
    expect((await target({}, testCase)).error).toBe('response error: {"message":"quota"}');
    expect(await target({}, testCase)).toMatchObject({ ok: true, text: "ok" });
  });

  it("prices by the per-1K table, matching dated snapshots, and unknown models at 0", () => {
    expect(costOf("gpt-4o-mini-2024-07-18", { input_tokens: 2000, output_tokens: 1000 })).toBeCloseTo(0.0009, 10);
    expect(costOf("openai/gpt-4o", { input_tokens: 1000, output_tokens: 0 })).toBeCloseTo(0.0025, 10);
    expect(costOf("my-own-model", { input_tokens: 1000, output_tokens: 1000 })).toBe(0);
  });
});

describe("the mock", () => {
  const space = {
    model: { type: "categorical" as const, values: ["mock-small", "mock-medium", "mock-large"] },
    temperature: { type: "float" as const, min: 0, max: 1.5, step: 0.05, log: false },
    max_tokens: { type: "discrete" as const, values: [64, 128, 256, 512] },
  };

  it("is deterministic and has its documented optimum", () => {
    const a = mockResponse(space, { model: "mock-large", temperature: 0.4, max_tokens: 128 }, testCase, 0);
    const b = mockResponse(space, { model: "mock-large", temperature: 0.4, max_tokens: 128 }, testCase, 0);
    expect(a).toEqual(b);
    const optimum = mockOptimum(space);
    expect(optimum.quality).toBeGreaterThan(0.98);
    // No point of the grid beats the stated optimum.
    for (const model of space.model.values) {
      for (let t = 0; t <= 1.5; t += 0.05) {
        for (const max_tokens of space.max_tokens.values) {
          expect(surfaceQuality(space, { model, temperature: Number(t.toFixed(2)), max_tokens })).toBeLessThanOrEqual(
            optimum.quality + 1e-12,
          );
        }
      }
    }
  });

  it("answers like a chat completion whose tokens, latency and cost follow the parameters", () => {
    const short = mockResponse(space, { model: "mock-small", temperature: 0.4, max_tokens: 64 }, testCase, 0);
    const long = mockResponse(space, { model: "mock-small", temperature: 0.4, max_tokens: 512 }, testCase, 0);
    const large = mockResponse(space, { model: "mock-large", temperature: 0.4, max_tokens: 512 }, testCase, 0);
    expect(extractText(short.body)).toBe(short.text);
    expect(short.usage?.output_tokens).toBe(64);
    expect(long.usage?.output_tokens as number).toBeGreaterThan(64);
    expect(long.latency_ms).toBeGreaterThan(short.latency_ms);
    expect(large.cost_usd).toBeGreaterThan(long.cost_usd);
  });

  it("adds per-test-case noise only when asked", () => {
    const params = { model: "mock-small", temperature: 0.4, max_tokens: 64 };
    const quality = (noise: number, id: string) =>
      (mockResponse(space, params, { ...testCase, input: { q: id } }, noise).body as { mock: { quality: number } }).mock.quality;
    const clean = ["a", "b", "c", "d"].map((id) => quality(0, id));
    const noisy = ["a", "b", "c", "d"].map((id) => quality(0.1, id));
    expect(noisy).not.toEqual(clean);
    expect(quality(0.1, "a")).toBe(noisy[0]);
  });
});
