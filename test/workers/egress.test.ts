import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RUN_HEADER } from "../../src/target/egress.js";
import { prepareInWorker, secretsForRuns } from "../../workers/runs/prepare";
import { call, KEY, refuseConnections } from "./helpers";

const SECRET = "sk-live-do-not-leak-0123456789";

interface Refusal {
  error: { code: string; message: string; details?: { path: string; message: string; rule?: string }[] };
}

/** POST a config to /v1/runs with the env given (the pool's, changed), and record what the worker sent or wrote. */
async function startWith(config: unknown, overrides: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const sent: unknown[] = [];
  const spy = {
    ...overrides,
    EVALUATIONS: { send: async (m: unknown) => void sent.push(m), sendBatch: async (m: unknown) => void sent.push(m) },
  };
  const count = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM runs").first<{ n: number }>())?.n ?? 0;
  const before = await count();
  const response = await call("POST", "/v1/runs", config, headers, spy);
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as Refusal, sent, written: (await count()) - before };
}

function target(api: object, evaluation: object = {}) {
  return {
    api: { name: "egress", ...api },
    search_space: { parameters: { temperature: { type: "float", min: 0, max: 1, step: 0.5 } } },
    evaluation: {
      test_cases: { inline: [{ id: "a", input: { prompt: "hi" }, expected: { contains: ["hi"] } }] },
      metrics: { hit: { type: "contains", weight: 1 } },
      ...evaluation,
    },
    optimization: { seed: 1, evolution: { population_size: 2, generations: 1 } },
  };
}

describe("secrets a run may name", () => {
  it("refuses to send a Worker secret to an attacker's host unless RUN_SECRET_NAMES lists it, and never shows its value", async () => {
    const exfiltrate = target({ endpoint: "https://attacker.invalid/collect", auth: { type: "bearer", token_env: "OPENAI_API_KEY" } });
    const refused = await startWith(exfiltrate, { OPENAI_API_KEY: SECRET });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("not_allowed_for_runs");
    expect(refused.body.error.details).toEqual([
      {
        path: "api.auth.token_env",
        rule: "secret_not_allowed",
        message: "OPENAI_API_KEY is not allowed for runs on this service: add it to the RUN_SECRET_NAMES var (comma-separated) to allow it",
      },
    ]);
    expect(refused.text).not.toContain(SECRET);
    expect(refused).toMatchObject({ written: 0, sent: [] });

    // Listed, but unset: the old answer, which names the variable to set.
    const unset = await startWith(exfiltrate, { RUN_SECRET_NAMES: "OPENAI_API_KEY" });
    expect(unset.status).toBe(400);
    expect(unset.body.error).toMatchObject({
      code: "invalid_config",
      details: [{ path: "api.auth", message: "environment variable OPENAI_API_KEY is not set (named by api.auth.token_env)" }],
    });
    expect(unset.written).toBe(0);
  });

  it("refuses a judge's, embeddings' or HTTP evaluator's token_env the same way", async () => {
    const config = target(
      { mock_mode: true },
      {
        custom_evaluator: { url: "https://scores.invalid/score", token_env: "OPENAI_API_KEY" },
        metrics: { hit: { type: "custom", weight: 1 } },
      },
    );
    const refused = await startWith(config, { OPENAI_API_KEY: SECRET });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details?.map((d) => d.path)).toEqual(["evaluation.custom_evaluator.token_env"]);
    expect(refused.written).toBe(0);
  });

  it("hands a run only the secrets RUN_SECRET_NAMES lists, and never Convergence's own", () => {
    const base = { ...env, OPENAI_API_KEY: SECRET, TEAM_KEY: "team", RUN_SECRET_NAMES: undefined };
    expect(secretsForRuns(base as typeof env)).toEqual({});
    expect(secretsForRuns({ ...base, RUN_SECRET_NAMES: " TEAM_KEY , CONVERGENCE_API_KEY,MISSING" } as typeof env)).toEqual({
      TEAM_KEY: "team",
    });
  });
});

describe("service bindings a run may call", () => {
  it("refuses api.service naming a binding RUN_SERVICE_BINDINGS does not list", async () => {
    const config = target({ endpoint: "https://team-api.internal/v1/answer", service: "TEAM_API" });
    const refused = await startWith(config, { RUN_SERVICE_BINDINGS: undefined });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: "not_allowed_for_runs",
      details: [
        {
          path: "api.service",
          message: "TEAM_API is not allowed for runs on this service: add it to the RUN_SERVICE_BINDINGS var (comma-separated) to allow it",
        },
      ],
    });
    expect(refused.written).toBe(0);
  });
});

describe("hosts a run may call", () => {
  it.each([
    ["loopback", "http://127.0.0.1:9/v1/chat/completions", "loopback"],
    ["loopback, spelt in decimal", "http://2130706433/v1", "loopback"],
    ["loopback inside IPv6", "http://[::ffff:7f00:1]/v1", "loopback"],
    ["the metadata address", "http://169.254.169.254/latest/meta-data", "metadata"],
    ["a private network", "http://10.0.0.1/v1", "private"],
    ["localhost", "http://localhost:8787/v1/runs", "localhost"],
    ["the service's own host", "http://convergence.test/v1/runs", "own_host"],
  ])("refuses a target on %s before any call", async (_label, endpoint, rule) => {
    const refused = await startWith(target({ endpoint }));
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("not_allowed_for_runs");
    expect(refused.body.error.details).toEqual([{ path: "api.endpoint", rule, message: expect.stringContaining("RUN_ALLOWED_HOSTS") }]);
    expect(refused.body.error.message).toMatch(/^api\.endpoint: http:\/\/\S+ is not allowed for runs on this service: /);
    expect(refused).toMatchObject({ written: 0, sent: [] });
  });

  it("refuses a run whose target is the service's own /v1/runs with a run as its body (one POST, many runs)", async () => {
    const child = target({ mock_mode: true });
    const fanout = target({
      endpoint: "http://convergence.test/v1/runs",
      request: { headers: { authorization: `Bearer ${KEY}` }, body_template: child },
    });
    const refused = await startWith(fanout);
    expect(refused.status).toBe(400);
    expect(refused.body.error.details?.[0]).toMatchObject({ path: "api.endpoint", rule: "own_host" });
    expect(refused.body.error.details?.[0]?.message).toContain("it is this service's own host, and a run may not call the service itself");
    expect(refused).toMatchObject({ written: 0, sent: [] });
  });

  it("refuses a judge, embeddings or evaluator URL on a private host, naming each field", async () => {
    const config = target(
      { endpoint: "https://api.example.invalid/v1" },
      {
        judge: { endpoint: "http://169.254.169.254/v1/chat/completions", model: "judge" },
        embeddings: { endpoint: "http://[fd00::1]/v1/embeddings", model: "embed" },
        custom_evaluator: { url: "http://metadata.google.internal/score" },
      },
    );
    const refused = await startWith(config);
    expect(refused.status).toBe(400);
    expect(refused.body.error.details?.map((d) => [d.path, d.rule])).toEqual([
      ["evaluation.judge.endpoint", "metadata"],
      ["evaluation.embeddings.endpoint", "unique_local"],
      ["evaluation.custom_evaluator.url", "private_name"],
    ]);
    expect(refused.written).toBe(0);
  });

  it("lets a run call a host RUN_ALLOWED_HOSTS lists", async () => {
    const config = {
      ...target({ endpoint: "http://127.0.0.1:9/v1/chat/completions", request: { timeout_seconds: 2 } }),
      optimization: { seed: 1, evolution: { population_size: 2, generations: 1 }, execution: { max_retries: 0 } },
    };
    const closed = await prepareInWorker(env, config, { runId: "run_allowed" });
    expect(closed.ok).toBe(false);
    const open = await prepareInWorker({ ...env, RUN_ALLOWED_HOSTS: "127.0.0.1:9" }, config, { runId: "run_allowed" });
    if (!open.ok) throw new Error(JSON.stringify(open.errors));
    // Nothing listens on the discard port, and the call fails as it would there: it was made, with the run header, not refused.
    const connections = refuseConnections("127.0.0.1:9");
    try {
      const response = await open.run.target({ temperature: 0 }, open.run.testCases[0] as never);
      expect(response.ok).toBe(false);
      expect(response.error).not.toMatch(/not allowed for runs/);
      expect(response.error).toMatch(/127\.0\.0\.1:9/);
      expect(connections).toHaveBeenCalledOnce();
      const [url, init] = connections.mock.calls[0] ?? [];
      expect(url).toBe("http://127.0.0.1:9/v1/chat/completions");
      expect(new Headers(init?.headers).get(RUN_HEADER)).toBe("run_allowed");
    } finally {
      connections.mockRestore();
    }
  });
});

/** What a request a run makes carries. */
const FROM_A_RUN = { [RUN_HEADER]: "run_parent" };

describe("a run starting runs", () => {
  it("refuses to start a run, or write a system, from a request that carries the run header (any case)", async () => {
    for (const name of [RUN_HEADER, "X-Convergence-Run"]) {
      const refused = await startWith(target({ mock_mode: true }), {}, { [name]: "run_parent" });
      expect(refused.status).toBe(403);
      expect(refused.body.error).toEqual({
        code: "run_from_run",
        message: `this request comes from an optimization run (it carries the ${RUN_HEADER} header): a run may call only select, update and reading a decision, never start runs or change systems or keys`,
      });
      expect(refused).toMatchObject({ written: 0, sent: [] });
    }
    const system = await call("PUT", "/v1/systems/from_a_run", { default_arms: [{ arm_id: "a", params: { rate: 0.5 } }] }, FROM_A_RUN);
    expect(system.status).toBe(403);
    expect(await env.DB.prepare("SELECT name FROM systems WHERE name = 'from_a_run'").first()).toBeNull();
  });

  it("refuses every spelling of an admin path from a run, and lets a run's calls select", async () => {
    const send = (method: string, path: string, body: unknown) => call(method, path, body, FROM_A_RUN);
    const runsBefore = await env.DB.prepare("SELECT COUNT(*) AS n FROM runs").first<{ n: number }>();
    // Percent-encoded letters reach the same routes once decoded: each is still refused.
    for (const path of ["/v1/%72uns", "/%761/runs", "/v1/runs"]) {
      const response = await send("POST", path, target({ mock_mode: true }));
      expect(response.status, path).toBe(403);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("run_from_run");
    }
    for (const path of ["/v1/%73ystems/encoded_from_run", "/%761/systems/encoded_from_run"]) {
      expect((await send("PUT", path, { default_arms: [{ arm_id: "a" }] })).status, path).toBe(403);
    }
    expect((await send("POST", "/v1/keys", { scope: "admin" })).status).toBe(403);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM runs").first<{ n: number }>()).toEqual(runsBefore);
    expect(await env.DB.prepare("SELECT name FROM systems WHERE name = 'encoded_from_run'").first()).toBeNull();

    await call("PUT", "/v1/systems/team_side", { default_arms: [{ arm_id: "a" }, { arm_id: "b" }] });
    expect((await send("POST", "/v1/systems/team_side/select", { user_id: "u" })).status).toBe(200);
  });
});
