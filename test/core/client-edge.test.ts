/**
 * createClient on a request path: an injected fetch, the per-call timeout, select's fallback and update's retries,
 * against stand-in fetch functions (no network).
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import { ConvergenceApiError, createClient, type FetchFunction } from "../../src/index.js";

const SELECTION = {
  decision_id: "d1",
  arm_id: "fast",
  params: { k: 3 },
  sampled_value: 0.7,
  selection_probability: 0.5,
  arms_state: [],
  metadata: {},
};
const UPDATED = { success: true, reward: 1, engagement_score: 1, grading_score: null, computed_update: null, duplicate: false };
const FALLBACK = { k: 5 };

/** A fetch that answers each call in turn from `answers` (a status and body, or a failure), recording the calls. */
function scripted(answers: ({ status: number; body?: unknown; headers?: Record<string, string> } | "throw" | "hang")[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch: FetchFunction = (url, init) => {
    calls.push({ url, init });
    const answer = answers[calls.length - 1] ?? "throw";
    if (answer === "throw") return Promise.reject(new TypeError("connection refused"));
    if (answer === "hang")
      return new Promise((_, reject) => init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))));
    return Promise.resolve(
      Response.json(answer.body ?? {}, { status: answer.status, ...(answer.headers ? { headers: answer.headers } : {}) }),
    );
  };
  return { fetch, calls };
}

describe("createClient with an injected fetch", () => {
  it("sends every call through it, with the key, whatever the base URL", async () => {
    const { fetch, calls } = scripted([{ status: 200, body: SELECTION }]);
    const client = createClient({ apiKey: "k", fetch });
    const answer = await client.select("sys", { userId: "u" });
    expect(answer).toEqual({ ...SELECTION, fallback: false });
    // Without a fallback, the answer is always an arm (checked by the typecheck).
    expectTypeOf(answer.arm_id).toEqualTypeOf<string>();
    expect(calls[0]?.url).toBe("http://127.0.0.1:8787/v1/systems/sys/select");
    expect(new Headers(calls[0]?.init.headers).get("authorization")).toBe("Bearer k");
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ user_id: "u" });
  });

  it("gives up on a call at timeoutMs with a timeout error, and aborts its request", async () => {
    const { fetch, calls } = scripted(["hang"]);
    const client = createClient({ apiKey: "k", fetch, timeoutMs: 30 });
    const error = await client.getSystem("sys").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConvergenceApiError);
    expect(error).toMatchObject({ status: 0, code: "timeout", message: "Convergence did not answer GET /v1/systems/sys within 30 ms" });
    expect(calls[0]?.init.signal?.aborted).toBe(true);
  });

  it("bounds a fetch that ignores the abort signal too", async () => {
    const fetch: FetchFunction = () => new Promise(() => {});
    const client = createClient({ apiKey: "k", fetch, timeoutMs: 30, fallback: FALLBACK });
    expect(await client.select("sys", { userId: "u" })).toMatchObject({ fallback: true, params: FALLBACK, error: { code: "timeout" } });
  });
});

describe("select's fallback", () => {
  it("answers the fallback's params, with no arm or decision, on a timeout, an error answer or no answer", async () => {
    const { fetch } = scripted(["hang", { status: 503, body: { error: { code: "unavailable", message: "down" } } }, "throw"]);
    const client = createClient({ apiKey: "k", fetch, timeoutMs: 30, fallback: FALLBACK });
    const answers = [
      await client.select("sys", { userId: "u" }),
      await client.select("sys", { userId: "u" }),
      await client.select("sys", { userId: "u" }),
    ];
    for (const answer of answers) expect(answer).toMatchObject({ fallback: true, decision_id: null, arm_id: null, params: FALLBACK });
    expect(answers.map((a) => (a.fallback ? [a.error.status, a.error.code] : null))).toEqual([
      [0, "timeout"],
      [503, "unavailable"],
      [0, "unreachable"],
    ]);
  });

  it("asks a fallback function, which learns the system, the user and what went wrong", async () => {
    const { fetch } = scripted([{ status: 404, body: { error: { code: "not_found", message: "no system sys" } } }]);
    const seen: unknown[] = [];
    const client = createClient({
      apiKey: "k",
      fetch,
      fallback: (failure) => {
        seen.push({ system: failure.system, userId: failure.userId, agentType: failure.agentType, code: failure.error.code });
        return { k: failure.userId.length };
      },
    });
    const answer = await client.select("sys", { userId: "user", agentType: "search" });
    expectTypeOf(answer.arm_id).toEqualTypeOf<string | null>();
    expect(answer.params).toEqual({ k: 4 });
    expect(seen).toEqual([{ system: "sys", userId: "user", agentType: "search", code: "not_found" }]);
  });

  it("without a fallback, fails as before", async () => {
    const { fetch } = scripted([{ status: 503, body: { error: { code: "unavailable", message: "down" } } }]);
    const client = createClient({ apiKey: "k", fetch });
    await expect(client.select("sys", { userId: "u" })).rejects.toMatchObject({ status: 503, code: "unavailable" });
  });
});

describe("update's retries", () => {
  const reward = { userId: "u", decisionId: "d1", reward: 1 };

  it("sends update again after no answer, a timeout, 429 or a 5xx, the same body each time", async () => {
    const { fetch, calls } = scripted(["throw", "hang", { status: 429 }, { status: 502 }, { status: 200, body: UPDATED }]);
    const client = createClient({ apiKey: "k", fetch, updateTimeoutMs: 30, updateRetries: 4 });
    expect(await client.update("sys", reward)).toEqual(UPDATED);
    expect(calls).toHaveLength(5);
    expect(new Set(calls.map((c) => c.init.body)).size).toBe(1);
  });

  it("retries twice by default, then fails with the last error", async () => {
    const { fetch, calls } = scripted([{ status: 503 }, { status: 503 }, { status: 503 }, { status: 200, body: UPDATED }]);
    const client = createClient({ apiKey: "k", fetch });
    await expect(client.update("sys", reward)).rejects.toMatchObject({ status: 503 });
    expect(calls).toHaveLength(3);
  });

  it("never retries what another try cannot mend: a 4xx", async () => {
    for (const status of [400, 401, 403, 404]) {
      const { fetch, calls } = scripted([
        { status, body: { error: { code: "refused", message: "no" } } },
        { status: 200, body: UPDATED },
      ]);
      const client = createClient({ apiKey: "k", fetch });
      await expect(client.update("sys", reward)).rejects.toMatchObject({ status, code: "refused" });
      expect(calls).toHaveLength(1);
    }
  });

  it("takes a repeat that found the reward already there as done (the first try had landed)", async () => {
    const { fetch } = scripted(["hang", { status: 200, body: { ...UPDATED, duplicate: true } }]);
    const client = createClient({ apiKey: "k", fetch, updateTimeoutMs: 30 });
    expect(await client.update("sys", reward)).toMatchObject({ success: true, duplicate: true });
  });

  it("sends once with updateRetries: 0", async () => {
    const { fetch, calls } = scripted([{ status: 503 }, { status: 200, body: UPDATED }]);
    const client = createClient({ apiKey: "k", fetch, updateRetries: 0 });
    await expect(client.update("sys", reward)).rejects.toMatchObject({ status: 503 });
    expect(calls).toHaveLength(1);
  });

  it("waits what a 429's Retry-After asks when an update can, and gives up at once when it cannot", async () => {
    const limited = (seconds: string) => ({
      status: 429,
      body: { error: { code: "rate_limited", message: "slow down" } },
      headers: { "retry-after": seconds },
    });
    const soon = scripted([limited("0.3"), { status: 200, body: UPDATED }]);
    const started = Date.now();
    expect(await createClient({ apiKey: "k", fetch: soon.fetch }).update("sys", reward)).toEqual(UPDATED);
    // A floor only (the wait can only be longer on a busy machine): the 100 ms backoff alone would be shorter.
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const later = scripted([limited("60"), { status: 200, body: UPDATED }]);
    await expect(createClient({ apiKey: "k", fetch: later.fetch }).update("sys", reward)).rejects.toMatchObject({
      status: 429,
      code: "rate_limited",
      retryAfterMs: 60_000,
    });
    expect(later.calls).toHaveLength(1);
  });

  it("bounds an update attempt by updateTimeoutMs, not the request path's timeoutMs", async () => {
    const late: FetchFunction = () => new Promise((resolve) => setTimeout(() => resolve(Response.json(UPDATED)), 60));
    const background = createClient({ apiKey: "k", fetch: late, timeoutMs: 20 });
    expect(await background.update("sys", reward)).toEqual(UPDATED);
    const tight = createClient({ apiKey: "k", fetch: late, updateTimeoutMs: 20, updateRetries: 0 });
    await expect(tight.update("sys", reward)).rejects.toMatchObject({ code: "timeout" });
  });

  it("takes an answer cut off in the middle of its body for no answer, and sends again", async () => {
    let sent = 0;
    const fetch: FetchFunction = () => {
      sent++;
      if (sent > 1) return Promise.resolve(Response.json(UPDATED));
      const body = new ReadableStream({ pull: (controller) => controller.error(new TypeError("connection reset")) });
      return Promise.resolve(new Response(body, { status: 200 }));
    };
    const client = createClient({ apiKey: "k", fetch });
    expect(await client.update("sys", reward)).toEqual(UPDATED);
    expect(sent).toBe(2);
  });
});

describe("createClient's options", () => {
  it("refuses a bound or a retry count that could not work, naming it", () => {
    for (const [options, name] of [
      [{ timeoutMs: 0 }, "timeoutMs"],
      [{ timeoutMs: -5 }, "timeoutMs"],
      [{ timeoutMs: 1.5 }, "timeoutMs"],
      [{ timeoutMs: Number.NaN }, "timeoutMs"],
      [{ timeoutMs: 2 ** 31 }, "timeoutMs"],
      [{ updateTimeoutMs: Number.POSITIVE_INFINITY }, "updateTimeoutMs"],
      [{ updateRetries: -1 }, "updateRetries"],
      [{ updateRetries: 11 }, "updateRetries"],
    ] as const)
      expect(() => createClient(options), name).toThrow(new RegExp(`^createClient: ${name} must be a whole number from`));
    expect(() => createClient({ timeoutMs: 1, updateTimeoutMs: 2 ** 31 - 1, updateRetries: 0 })).not.toThrow();
  });
});
