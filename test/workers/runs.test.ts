/**
 * Optimization runs in the worker: the routes, the RunCoordinator and the evaluations queue working together, as
 * in production (the pool delivers queue messages to the worker's queue handler).
 */
import {
  createExecutionContext,
  createScheduledController,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { executeRun } from "../../src/run/execute.js";
import type { Ledger } from "../../src/run/ledger.js";
import { prepareRun } from "../../src/run/prepare.js";
import type { RunView } from "../../src/run/schema.js";
import { toSeedResponse } from "../../src/sdk/response.js";
import { insertRun } from "../../workers/db/runs";
import worker from "../../workers/index";
import { MAX_SENDS, type RunCoordinator } from "../../workers/objects/run-coordinator";
import { startScheduled } from "../../workers/runs/schedule";
import type { RunRpc } from "../../workers/runs/start";
import { call, callJson, KEY, refuseConnections } from "./helpers";
import { CASES, coordinator, evaluationRows, finished, inProcess, mockRun, running, submit, success, until } from "./run-helpers";

async function evaluationCosts(runId: string): Promise<number[]> {
  const { results } = await env.DB.prepare("SELECT cost_usd FROM evaluations WHERE run_id = ?").bind(runId).all<{ cost_usd: number }>();
  return results.map((r) => r.cost_usd);
}

describe("POST /v1/runs", () => {
  it("runs a config through the queue to the same best config and score as the in-process SDK", async () => {
    const config = mockRun();
    const view = await submit(config);
    expect(view).toMatchObject({ status: "running", algorithm: "evolution", seed: 11, api_name: "runs_test" });
    const done = await finished(view.run_id);
    expect(done.status).toBe("succeeded");
    const remote = success(done.result);

    const prepared = await prepareRun(config);
    if (!prepared.ok) throw new Error("the test config is invalid");
    const local = toSeedResponse(await executeRun(prepared.run, { runId: "local", seed: 11 }));
    if (!local.success) throw new Error(local.error);
    expect(remote.best_config).toEqual(local.best_config);
    expect(remote.best_score).toBe(local.best_score);
    expect(remote.target_calls).toBe(local.target_calls);
    expect(remote.history.map((h) => h.best)).toEqual(local.history.map((h) => h.best));
    expect(done.progress).toMatchObject({ generation: 4, generations: 4, in_flight: 0, target_calls: local.target_calls });

    // D1 holds the run, every (candidate, test case) once, and the candidates.
    const rows = await evaluationRows(view.run_id);
    expect(rows).toHaveLength(local.target_calls);
    const row = await env.DB.prepare("SELECT status, best_score, target_calls FROM runs WHERE run_id = ?").bind(view.run_id).first();
    expect(row).toEqual({ status: "succeeded", best_score: local.best_score, target_calls: local.target_calls });
    const page = await callJson<{ evaluations: { candidate: string; test_case_id: string; success: boolean; metrics: object }[] }>(
      "GET",
      `/v1/runs/${view.run_id}/evaluations?limit=5&offset=2`,
    );
    expect(page.body.evaluations).toHaveLength(5);
    expect(page.body.evaluations[0]).toMatchObject({ success: true, metrics: { quality: expect.any(Number) } });
    expect((await callJson("GET", `/v1/runs/${view.run_id}/evaluations?limit=0`)).status).toBe(400);
    const listed = await callJson<{ runs: { run_id: string; status: string }[] }>("GET", "/v1/runs?limit=5");
    expect(listed.body.runs.find((r) => r.run_id === view.run_id)?.status).toBe("succeeded");
  });

  it("runs the default algorithm (auto, racing over the test cases) when the config names none, as the SDK does", async () => {
    const config = mockRun({ optimization: { algorithm: undefined } });
    config.evaluation.test_cases.inline = Array.from({ length: 6 }, (_, i) => ({
      ...(CASES[i % 2] as (typeof CASES)[0]),
      id: `case_${i}`,
    }));
    const view = await submit(config);
    expect(view.algorithm).toBe("auto");
    const remote = success((await finished(view.run_id)).result);
    const local = await inProcess(config);
    expect(remote.algorithm).toBe("auto");
    expect(local.algorithm).toBe("auto");
    expect(remote.best_config).toEqual(local.best_config);
    expect(remote.best_score).toBe(local.best_score);
    expect(remote.target_calls).toBe(local.target_calls);
    // The race ended some candidates early, and the calls it saved bought more candidates than the population.
    expect(remote.history.some((h) => h.dropped > 0)).toBe(true);
    expect(remote.history.reduce((n, h) => n + h.candidates, 0)).toBeGreaterThan(6 * 4);
    expect(remote.target_calls).toBeLessThanOrEqual(6 * 4 * 6);
  });

  it("takes a YAML config and a seed in the query", async () => {
    const yaml = [
      "api: { name: yaml_run, mock_mode: true }",
      "search_space:",
      "  parameters:",
      "    temperature: { type: float, min: 0, max: 1, step: 0.1 }",
      "evaluation:",
      "  test_cases:",
      "    inline:",
      "      - { id: a, input: { prompt: alpha } }",
      "  metrics:",
      "    quality: { type: llm_judge, weight: 1 }",
      "optimization:",
      "  evolution: { population_size: 4, generations: 2 }",
    ].join("\n");
    const response = await call("POST", "/v1/runs?seed=5", yaml, { "content-type": "application/yaml" });
    expect(response.status).toBe(202);
    const view = (await response.json()) as RunView;
    expect(view.seed).toBe(5);
    expect((await finished(view.run_id)).status).toBe("succeeded");
  });

  it("refuses an invalid config with 400, every problem named, and nothing recorded or enqueued", async () => {
    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM runs").first<{ n: number }>();
    const sent: unknown[] = [];
    const spy = {
      ...env,
      EVALUATIONS: { send: async (m: unknown) => void sent.push(m), sendBatch: async (m: unknown) => void sent.push(m) },
    };
    const bad = mockRun();
    (bad.search_space.parameters.temperature as { min: number }).min = 2;
    delete (bad.evaluation as { metrics?: unknown }).metrics;
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request("http://convergence.test/v1/runs", {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify(bad),
      }),
      spy as unknown as typeof env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string; details: { path: string }[] } };
    expect(body.error.code).toBe("invalid_config");
    expect(body.error.details.map((d) => d.path).sort()).toEqual(["evaluation.metrics", "search_space.parameters.temperature.max"]);
    expect(sent).toEqual([]);
    const after = await env.DB.prepare("SELECT COUNT(*) AS n FROM runs").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);

    for (const [body, type, code] of [
      ["{not json", "application/json", "malformed_json"],
      ["a: [1", "application/yaml", "malformed_yaml"],
      ["x=1", "text/plain", "unsupported_media_type"],
    ] as const) {
      const refused = await call("POST", "/v1/runs", body, { "content-type": type });
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await call("POST", "/v1/runs?seed=abc", mockRun())).status).toBe(400);
    expect((await callJson("GET", "/v1/runs/no_such_run")).status).toBe(404);
  });

  it("never lets a config read Convergence's own secrets, and refuses a run too large for one coordinator", async () => {
    const leaky = mockRun({
      api: { mock_mode: false, endpoint: "https://collector.example/v1", auth: { type: "bearer", token_env: "CONVERGENCE_API_KEY" } },
    });
    const refused = await callJson<{ error: { code: string; details: { path: string; message: string }[] } }>("POST", "/v1/runs", leaky);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("not_allowed_for_runs");
    expect(refused.body.error.details).toContainEqual({
      path: "api.auth.token_env",
      rule: "secret_not_allowed",
      message:
        "CONVERGENCE_API_KEY is Convergence's own setting and never available to runs: keep the team's key under another name and list that name in the RUN_SECRET_NAMES var",
    });
    const long = mockRun({ optimization: { evolution: { population_size: 500, generations: 250 } } });
    const tooLong = await callJson<{ error: { message: string } }>("POST", "/v1/runs", long);
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toMatch(/a run on the service makes at most 100,000 target calls/);
    // Few calls, but a generation too wide for the state one coordinator keeps: refused before it starts.
    const wide = mockRun({ optimization: { algorithm: "tpe", evolution: { population_size: 5000, generations: 1 } } });
    const tooWide = await callJson<{ error: { details: { path: string; message: string }[] } }>("POST", "/v1/runs", wide);
    expect(tooWide.status).toBe(400);
    expect(tooWide.body.error.details).toContainEqual({
      path: "optimization.evolution.population_size",
      message: expect.stringMatching(/of optimizer state .* more than the 1024 KiB a run on the service keeps: lower population_size/),
    });
  });

  it("calls another Worker through a service binding (api.service), marking each call with the run header", async () => {
    const config = {
      api: { name: "team", endpoint: "https://team-api.internal/v1/answer", service: "TEAM_API" },
      search_space: { parameters: { temperature: { type: "float", min: 0, max: 1, step: 0.5 } } },
      evaluation: {
        test_cases: { inline: [{ id: "a", input: { prompt: "hi" }, expected: { contains: ["temperature 1 from /v1/answer"] } }] },
        metrics: { hit: { type: "contains", weight: 1 } },
      },
      optimization: { seed: 2, evolution: { population_size: 3, generations: 2 } },
    };
    const view = await submit(config);
    const done = await finished(view.run_id);
    expect(success(done.result)).toMatchObject({ best_score: 1, best_config: { temperature: 1 } });
    const page = await callJson<{ evaluations: { response_excerpt: string }[] }>("GET", `/v1/runs/${view.run_id}/evaluations`);
    expect(page.body.evaluations.map((e) => e.response_excerpt)).toContain(`temperature 1 from /v1/answer for run ${view.run_id}`);
    // Allowed by RUN_SERVICE_BINDINGS but not bound: the answer says where to bind it.
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request("http://convergence.test/v1/runs", {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ ...config, api: { ...config.api, service: "NO_SUCH_API" } }),
      }),
      { ...env, RUN_SERVICE_BINDINGS: "TEAM_API, NO_SUCH_API" },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const missing = (await response.json()) as { error: { details: { path: string; message: string }[] } };
    expect(missing.error.details).toContainEqual({
      path: "api.service",
      message: "this worker has no service binding named NO_SUCH_API (add it under [[services]] in wrangler.toml)",
    });
  });

  it("ends a run against an unreachable target with success: false and the reason", async () => {
    const connections = refuseConnections("unreachable.invalid");
    try {
      const view = await submit(
        mockRun({
          api: { mock_mode: false, endpoint: "http://unreachable.invalid/v1/chat/completions", request: { timeout_seconds: 2 } },
          execution: { max_retries: 0 },
        }),
      );
      const done = await finished(view.run_id);
      expect(done.status).toBe("failed");
      // It stops after the first generation: not one call got through, so more would only cost time.
      expect(done.result).toMatchObject({ success: false, target_calls: 12, stop_reason: "all_failed" });
      expect(done.result?.error).toMatch(/^every call to the target failed \(12 calls\); first error: .*unreachable\.invalid/);
      const row = await env.DB.prepare("SELECT status, error FROM runs WHERE run_id = ?").bind(view.run_id).first<{ error: string }>();
      expect(row).toMatchObject({ status: "failed", error: done.result?.error });
      // Every call the run counts went out through fetch.
      expect(connections.mock.calls.filter(([input]) => String(input).startsWith("http://unreachable.invalid/"))).toHaveLength(12);
    } finally {
      connections.mockRestore();
    }
  });
});

describe("the coordinator", () => {
  it("keeps one result per (candidate, test case) when messages are delivered twice, and resends lost ones", async () => {
    const config = mockRun({ api: { mock_latency_ms: 300 }, optimization: { evolution: { population_size: 4, generations: 2 } } });
    const view = await submit(config);
    const stub = coordinator(view.run_id);
    // Pretend every message in flight was lost long ago: the watchdog sends them all again while the
    // originals are still being evaluated, so each is evaluated and reported twice. The watchdog runs in the same
    // call, so no consumer's claim lands between the two and leaves a task it would not resend.
    const resent = await runInDurableObject(stub, async (instance, state) => {
      state.storage.sql.exec("UPDATE tasks SET sent_at = 0, claimed_at = NULL WHERE status = 'sent'");
      const lost = state.storage.sql.exec<{ key: string }>("SELECT key FROM tasks WHERE status = 'sent'").toArray().length;
      await (instance as unknown as RunCoordinator).alarm();
      return lost;
    });
    expect(resent).toBeGreaterThan(0);
    const sends = await runInDurableObject(
      stub,
      (_instance, state) => state.storage.sql.exec<{ sends: number }>("SELECT MAX(sends) AS sends FROM tasks").one().sends,
    );
    expect(sends).toBe(2);
    const done = await finished(view.run_id);
    const result = success(done.result);
    // Every evaluation ran twice, and the run is the one that ran each once: same scores, same best. A message
    // claimed again while its first claim was still evaluating made a second call, which counts (the target
    // received it); whether that happened depends on timing, so the count is checked against the ledger's.
    const local = await inProcess(config);
    const ledger = await runInDurableObject(
      stub,
      (_instance, state) =>
        JSON.parse(state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'ledger'").one().value) as Ledger,
    );
    expect(result.target_calls).toBe(local.target_calls + ledger.resent);
    expect(result).toMatchObject({ best_config: local.best_config, best_score: local.best_score });
    expect(result.history.map((h) => h.mean)).toEqual(local.history.map((h) => h.mean));
    expect(await evaluationRows(view.run_id)).toHaveLength(local.target_calls);
  });

  it("ends a run whose state outgrows what one coordinator keeps: failed, with its stop_reason, nothing sent", async () => {
    // Started on the coordinator directly: the start guard (tested above) refuses this config on the API.
    const question = { messages: [{ role: "user", content: "What is the capital of Japan?" }] };
    const config = {
      ...mockRun({ optimization: { evolution: { population_size: 10_000, generations: 2 } } }),
      search_space: { parameters: { temperature: { type: "float", min: 0, max: 1 }, top_p: { type: "float", min: 0, max: 1 } } },
    };
    config.evaluation.test_cases.inline = ["a", "b", "c"].map((id) => ({
      id: `${id}-${"x".repeat(120)}`,
      input: question,
      expected: { contains: ["Tokyo"] },
    }));
    const runId = "state_limit_run";
    await insertRun(env.DB, { run_id: runId, api_name: "runs_test", algorithm: "evolution", seed: 1, trigger: "api", system: null });
    const stub = coordinator(runId) as unknown as RunRpc;
    const spec = {
      run_id: runId,
      config,
      seed: 1,
      trigger: "api" as const,
      system: null,
      initial_configs: [],
      promote: null,
      own_hosts: [],
    };
    const view = await stub.start({ ...spec, created_at: new Date().toISOString() });
    expect(view).toMatchObject({ status: "failed", progress: { target_calls: 0, in_flight: 0 } });
    expect(view.result).toMatchObject({ success: false, stop_reason: "state_limit" });
    expect(view.result?.error).toMatch(/state outgrew what the service can keep for one run/);
    const row = await env.DB.prepare("SELECT status, error FROM runs WHERE run_id = ?")
      .bind(runId)
      .first<{ status: string; error: string }>();
    expect(row).toMatchObject({ status: "failed", error: view.result?.error });
    // Published: the watchdog has nothing left to do.
    expect(await runDurableObjectAlarm(coordinator(runId))).toBe(false);
  });

  it("resumes a run an earlier version kept as one study row: upgraded in place, to the same result as in process", async () => {
    const config = mockRun({ api: { mock_latency_ms: 30 }, optimization: { algorithm: undefined } });
    config.evaluation.test_cases.inline = Array.from({ length: 6 }, (_, i) => ({
      ...(CASES[i % 2] as (typeof CASES)[0]),
      id: `case_${i}`,
    }));
    const view = await submit(config);
    const stub = coordinator(view.run_id);
    const generationsDone = () =>
      runInDurableObject(
        stub,
        (_instance, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM study_history").one().n,
      );
    await until("a generation told", async () => ((await generationsDone()) >= 1 ? true : undefined));
    // Between two reports, write the study back as the version before v2 kept it (one JSON row), drop the tables
    // and the instance's loaded copy, as a deploy of this version over a running run leaves it.
    const upgraded = await runInDurableObject(stub, (instance, state) => {
      const sql = state.storage.sql;
      const control = JSON.parse(sql.exec<{ state: string }>("SELECT state FROM study_control").one().state);
      const { callsSentAgain: _again, candidates: _candidates, callsPerCandidate: _perCandidate, settings, ...rest } = control;
      const { parallelWorkers, ...oldSettings } = settings;
      const configs = Object.fromEntries(
        sql
          .exec<{ hash: string; config: string }>("SELECT hash, config FROM study_configs")
          .toArray()
          .map((r) => [r.hash, JSON.parse(r.config)]),
      );
      const scores: Record<string, Record<string, number>> = {};
      for (const r of sql.exec<{ hash: string; test_case_id: string; score: number }>("SELECT * FROM study_scores")) {
        scores[r.hash] = { ...scores[r.hash], [r.test_case_id]: r.score };
      }
      const trials = sql
        .exec<{ generation: number; hash: string; fitness: number; complete: number; dropped: number }>(
          "SELECT * FROM study_trials ORDER BY seq",
        )
        .toArray()
        .map((t) => ({ generation: t.generation, hash: t.hash, fitness: t.fitness, complete: t.complete === 1, dropped: t.dropped === 1 }));
      const history = sql
        .exec<{ summary: string }>("SELECT summary FROM study_history ORDER BY generation")
        .toArray()
        .map((r) => JSON.parse(r.summary));
      const legacy = {
        ...rest,
        version: 1,
        settings: { ...oldSettings, proposalBatch: parallelWorkers },
        configs,
        scores,
        trials,
        history,
      };
      sql.exec("INSERT INTO study (id, state) VALUES (1, ?)", JSON.stringify(legacy));
      for (const table of ["study_control", "study_configs", "study_scores", "study_trials", "study_history"])
        sql.exec(`DELETE FROM ${table}`);
      (instance as unknown as { loaded: unknown }).loaded = null;
      const status = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'status'").one().value;
      return { configs: Object.keys(configs).length, generations: history.length, status };
    });
    expect(upgraded).toMatchObject({ status: "running", generations: expect.any(Number) });
    expect(upgraded.generations).toBeGreaterThanOrEqual(1);
    expect(upgraded.generations).toBeLessThan(4);

    const done = await finished(view.run_id);
    expect(done.status).toBe("succeeded");
    const remote = success(done.result);
    const local = await inProcess(config);
    expect(remote.best_config).toEqual(local.best_config);
    expect(remote.best_score).toBe(local.best_score);
    expect(remote.target_calls).toBe(local.target_calls);
    expect(remote.history.map((h) => h.best)).toEqual(local.history.map((h) => h.best));
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      expect(sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM study").one().n).toBe(0);
      expect(sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM study_configs").one().n).toBeGreaterThan(upgraded.configs);
    });
    expect(await evaluationRows(view.run_id)).toHaveLength(local.target_calls);
  });

  it("counts an evaluation sent too many times without a report as failed, and goes on", async () => {
    const view = await submit(
      mockRun({ api: { mock_latency_ms: 400 }, optimization: { evolution: { population_size: 4, generations: 2 } } }),
    );
    const stub = coordinator(view.run_id);
    await runInDurableObject(stub, async (_instance, state) => {
      const task = state.storage.sql.exec<{ key: string }>("SELECT key FROM tasks WHERE status = 'sent' LIMIT 1").one();
      state.storage.sql.exec("UPDATE tasks SET sends = ?, sent_at = 0, claimed_at = NULL WHERE key = ?", MAX_SENDS, task.key);
    });
    await runDurableObjectAlarm(stub);
    const done = await finished(view.run_id);
    const result = success(done.result);
    expect(result.failed_calls).toBe(1);
    expect(result.failures[0]?.reasons[0]?.message).toBe(`the evaluation was sent ${MAX_SENDS} times without a report`);
  });

  it("keeps at most parallel_workers evaluations in flight", async () => {
    // Looked at from start to end (not for a fixed time, which a slow machine may spend before anything is sent).
    const view = await submit(
      mockRun({
        api: { mock_latency_ms: 200 },
        optimization: { evolution: { population_size: 4, generations: 2 } },
        execution: { parallel_workers: 2 },
      }),
    );
    const stub = coordinator(view.run_id);
    const inFlight: number[] = [];
    await until("the run to end", async () => {
      inFlight.push(
        await runInDurableObject(
          stub,
          (_instance, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM tasks WHERE status = 'sent'").one().n,
        ),
      );
      return running((await callJson<RunView>("GET", `/v1/runs/${view.run_id}`)).body) ? undefined : true;
    });
    expect(Math.max(...inFlight)).toBe(2);
    expect((await finished(view.run_id)).status).toBe("succeeded");
  });

  it("cancels a run: nothing more is evaluated, and the result says so", async () => {
    const view = await submit(mockRun({ api: { mock_latency_ms: 100 } }));
    // Cancelled mid-run, once a few evaluations are recorded (the claims below name three of them).
    await until("three evaluations", async () => ((await evaluationRows(view.run_id)).length >= 3 ? true : undefined));
    const cancelled = await callJson<RunView>("POST", `/v1/runs/${view.run_id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    expect(cancelled.body.result).toMatchObject({ success: false, error: "Optimization was cancelled" });
    const calls = cancelled.body.progress.target_calls;
    // Issue 16, item 9: the history's calls per generation add up to the calls the run made, not to those it had
    // asked for (the round's evaluations still waiting were never sent), and the timeline ends at that total.
    expect(cancelled.body.history.reduce((sum, g) => sum + g.calls, 0)).toBe(calls);
    expect(cancelled.body.result?.target_calls).toBe(calls);
    expect(cancelled.body.timeline.at(-1)?.target_calls).toBe(calls);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const later = (await callJson<RunView>("GET", `/v1/runs/${view.run_id}`)).body;
    expect(later.progress.target_calls).toBe(calls);
    expect(later.progress.in_flight).toBe(0);
    expect(await runDurableObjectAlarm(coordinator(view.run_id))).toBe(false);
    // Messages still queued are dropped: the coordinator hands out nothing more.
    const rpc = coordinator(view.run_id) as unknown as { claim(keys: string[]): Promise<unknown[]> };
    const keys = (await evaluationRows(view.run_id)).map((r) => `${r.hash}|${r.test_case_id}`);
    expect(await rpc.claim([...keys.slice(0, 3), "nohash|capital"])).toEqual([null, null, null, null]);
    // Cancelling again changes nothing.
    expect((await callJson<RunView>("POST", `/v1/runs/${view.run_id}/cancel`)).body.status).toBe("cancelled");
  });

  it("stops at max_cost_usd as the in-process run does", async () => {
    const config = mockRun({ execution: { max_cost_usd: 0.0005 } });
    const view = await submit(config);
    const done = await finished(view.run_id);
    const prepared = await prepareRun(config);
    if (!prepared.ok) throw new Error("the test config is invalid");
    const local = toSeedResponse(await executeRun(prepared.run, { runId: "local", seed: 11 }));
    expect(done.result?.success ? done.result.stop_reason : done.result?.error).toBe(local.success ? local.stop_reason : local.error);
    expect(local.success && local.stop_reason).toBe("max_cost_usd");
    const remote = success(done.result);
    // No new call once the budget is spent: at most the calls in flight (parallel_workers 4) pass it.
    const perCall = Math.max(...(await evaluationCosts(view.run_id)));
    expect(remote.cost_usd).toBeGreaterThanOrEqual(0.0005);
    expect(remote.cost_usd).toBeLessThanOrEqual(0.0005 + 4 * perCall);
  });

  it("shows a run whose coordinator never started it from what D1 knows, instead of failing", async () => {
    await env.DB.prepare(
      `INSERT INTO runs (run_id, api_name, status, algorithm, seed, trigger, created_at, updated_at, error)
       VALUES ('never_started', 'x', 'failed', 'evolution', 1, 'api', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'the run could not start: queue down')`,
    ).run();
    const shown = await callJson<RunView>("GET", "/v1/runs/never_started");
    expect(shown).toMatchObject({
      status: 200,
      body: { status: "failed", result: { success: false, error: "the run could not start: queue down" } },
    });
    expect((await callJson<RunView>("POST", "/v1/runs/never_started/cancel")).body.status).toBe("failed");
  });
});

describe("POST /v1/validate", () => {
  it("answers what starting the config would find, and starts nothing", async () => {
    const runsBefore = await env.DB.prepare("SELECT COUNT(*) AS n FROM runs").first<{ n: number }>();
    const good = await callJson<{ valid: boolean; errors: unknown[]; warnings: { path: string }[] }>("POST", "/v1/validate", mockRun());
    expect(good).toMatchObject({ status: 200, body: { valid: true, errors: [] } });

    // A ported evaluator that lives next to the user's config is not in this deployment; a key it may not send.
    const base = mockRun();
    const groqLike = {
      ...base,
      api: { name: "groq_like", endpoint: "https://api.groq.invalid/v1/chat", auth: { type: "bearer", token_env: "GROQ_API_KEY" } },
      evaluation: {
        ...base.evaluation,
        custom_evaluator: { enabled: true, module: "groq_responses", function: "score_response_quality" },
        metrics: { response_quality: { weight: 1, function: "custom" } },
      },
    };
    const bad = await callJson<{ valid: boolean; errors: { path: string; message: string }[] }>("POST", "/v1/validate", groqLike);
    expect(bad.status).toBe(200);
    expect(bad.body.valid).toBe(false);
    const module = bad.body.errors.find((e) => e.path === "evaluation.custom_evaluator.module");
    expect(module?.message).toMatch(
      /'groq_responses' is not bundled in this deployment \(bundled: text_checks\): add it to workers\/evaluators\/index\.ts/,
    );
    expect(module?.message).toMatch(/custom_evaluator\.url/);
    expect(bad.body.errors.some((e) => e.path === "api.auth.token_env" && /RUN_SECRET_NAMES/.test(e.message))).toBe(true);
    // Starting it refuses it with the same problems.
    const refused = await callJson<{ error: { details: unknown[] } }>("POST", "/v1/runs", groqLike);
    expect(refused.status).toBe(400);
    expect(refused.body.error.details).toEqual(bad.body.errors);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM runs").first<{ n: number }>()).toEqual(runsBefore);

    const unreadable = await call("POST", "/v1/validate", "{", { "content-type": "application/json" });
    expect(unreadable.status).toBe(400);
  });
});

describe("promotion", () => {
  it("adds a succeeded run's best distinct configs as arms that name the run, once", async () => {
    const view = await submit(mockRun());
    const done = await finished(view.run_id);
    const result = success(done.result);
    const promoted = await callJson<{ system: string; version: number; added: string[] }>("POST", `/v1/runs/${view.run_id}/promote`, {
      system: "promoted_system",
      top_k: 3,
    });
    expect(promoted.status).toBe(200);
    expect(promoted.body.added).toHaveLength(3);
    const system = await callJson<{
      config: { default_arms: { arm_id: string; params: unknown; source?: { run_id: string; score: number } }[] };
    }>("GET", "/v1/systems/promoted_system");
    const arms = system.body.config.default_arms;
    expect(arms.map((a) => a.arm_id)).toEqual(promoted.body.added);
    expect(arms[0]).toMatchObject({ params: result.best_config, source: { run_id: view.run_id, score: result.best_score } });
    const again = await callJson<{ added: string[]; version: number }>("POST", `/v1/runs/${view.run_id}/promote`, {
      system: "promoted_system",
      top_k: 3,
    });
    // Nothing changed, so neither did the system's version.
    expect(again.body).toMatchObject({ added: [], version: promoted.body.version });
    expect((await callJson<{ version: number }>("GET", "/v1/systems/promoted_system")).body.version).toBe(promoted.body.version);
    // The run is one of the system's runs, once, though it was started for no system and promoted twice.
    const listed = await callJson<{ runs: { run_id: string; system: string | null }[] }>("GET", "/v1/runs?system=promoted_system");
    expect(listed.body.runs.map((r) => r.run_id)).toEqual([view.run_id]);
    expect(listed.body.runs[0]?.system).toBeNull();
    // The arms serve selections at once.
    const selected = await callJson<{ arm_id: string }>("POST", "/v1/systems/promoted_system/select", { user_id: "u1" });
    expect(promoted.body.added).toContain(selected.body.arm_id);
  });

  it("creates a system of the requested agent type, and refuses one that serves another", async () => {
    const view = await submit(mockRun());
    await finished(view.run_id);
    const created = await callJson<{ version: number }>("POST", `/v1/runs/${view.run_id}/promote`, {
      system: "chat_system",
      agent_type: "chat",
      top_k: 2,
    });
    expect(created).toMatchObject({ status: 200, body: { version: 1 } });
    expect((await callJson<{ config: { agent_type: string } }>("GET", "/v1/systems/chat_system")).body.config.agent_type).toBe("chat");
    const other = await callJson<{ error: { code: string; message: string } }>("POST", `/v1/runs/${view.run_id}/promote`, {
      system: "chat_system",
      agent_type: "search",
    });
    expect(other).toMatchObject({
      status: 409,
      body: { error: { code: "promotion_refused", message: "system 'chat_system' serves agent type 'chat', not 'search'" } },
    });
  });

  it("refuses to promote a run that did not succeed, or with a bad request", async () => {
    const view = await submit(mockRun({ api: { mock_latency_ms: 200 } }));
    await call("POST", `/v1/runs/${view.run_id}/cancel`);
    const refused = await callJson<{ error: { code: string } }>("POST", `/v1/runs/${view.run_id}/promote`, { system: "s1" });
    expect(refused).toMatchObject({ status: 409, body: { error: { code: "run_not_succeeded" } } });
    const bad = await callJson<{ error: { code: string } }>("POST", `/v1/runs/${view.run_id}/promote`, { system: "no spaces", top_k: 0 });
    expect(bad.status).toBe(400);
  });
});

describe("scheduled re-optimization", () => {
  it("refuses a schedule whose config a run could not start with, when the system is written", async () => {
    const config = mockRun();
    const invalid = await callJson<{ error: { code: string; details: { path: string; message: string }[] } }>(
      "PUT",
      "/v1/systems/bad_schedule",
      { reoptimize: { every: "1h", config: { ...config, optimization: { evolution: { population_size: 0 } } } } },
    );
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe("invalid_config");
    expect(invalid.body.error.details.map((d) => d.path)).toContain("reoptimize.config.optimization.evolution.population_size");
    const exfiltrating = await callJson<{ error: { code: string; message: string } }>("PUT", "/v1/systems/bad_schedule", {
      reoptimize: {
        every: "1h",
        config: {
          ...config,
          api: { name: "x", endpoint: "https://steal.invalid/", auth: { type: "bearer", token_env: "OPENAI_API_KEY" } },
        },
      },
    });
    expect(exfiltrating.status).toBe(400);
    expect(exfiltrating.body.error.code).toBe("not_allowed_for_runs");
    expect(exfiltrating.body.error.message).toContain("reoptimize.config.api.auth.token_env");
    expect(exfiltrating.body.error.message).toContain("RUN_SECRET_NAMES");
    expect((await call("GET", "/v1/systems/bad_schedule")).status).toBe(404);
  });

  it("keeps a scheduled run off the host its system was written through", async () => {
    const config = mockRun();
    const ownTarget = { ...config, api: { name: "own", endpoint: "http://convergence.test/v1/runs" } };
    // As a config stored before schedules were checked on write would be: due, and aimed at the service itself.
    const now = new Date().toISOString();
    await env.DB.prepare("INSERT INTO systems (name, config, version, created_at, updated_at, written_host) VALUES (?, ?, 1, ?, ?, ?)")
      .bind("self_aimed", JSON.stringify({ reoptimize: { every: "1h", config: ownTarget } }), now, now, "convergence.test")
      .run();
    const started = await startScheduled(env, { kind: "reoptimize", system: "self_aimed", scheduled_time: Date.now() });
    expect(started).toBeNull();
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM runs WHERE system = 'self_aimed'").first<{ n: number }>()).toEqual({ n: 0 });
    // The same schedule aimed elsewhere starts.
    await env.DB.prepare("UPDATE systems SET config = ? WHERE name = 'self_aimed'")
      .bind(JSON.stringify({ reoptimize: { every: "1h", config } }))
      .run();
    expect(await startScheduled(env, { kind: "reoptimize", system: "self_aimed", scheduled_time: Date.now() })).toEqual(expect.any(String));
  });

  it("starts due runs from the cron trigger, warm-starts them, and promotes their winners", async () => {
    const reoptimize = { every: "1h", config: mockRun(), promote: { top_k: 2 } };
    const put = await call("PUT", "/v1/systems/scheduled_system", {
      default_arms: [{ arm_id: "manual", name: "Manual", params: { model: "mock-small", temperature: 0.9 } }],
      reoptimize,
    });
    expect(put.status).toBe(200);

    const cron = async (scheduledTime = Date.now()) => {
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ scheduledTime, cron: "*/15 * * * *" }), env, ctx);
      await waitOnExecutionContext(ctx);
    };
    const runsOf = async () =>
      (await callJson<{ runs: { run_id: string; status: string; trigger: string }[] }>("GET", "/v1/runs?system=scheduled_system")).body
        .runs;

    await cron();
    const started = async (n: number) => {
      const runs = await runsOf();
      return runs.length >= n ? runs : undefined;
    };
    let runs = await until("a run started", () => started(1));
    expect(runs).toHaveLength(1);
    expect(runs[0]?.trigger).toBe("schedule");
    const first = await finished(runs[0]?.run_id as string);
    const best = success(first.result);
    const system = await callJson<{ config: { default_arms: { arm_id: string; source?: { run_id: string } }[] } }>(
      "GET",
      "/v1/systems/scheduled_system",
    );
    const promoted = system.body.config.default_arms.filter((a) => a.source?.run_id === first.run_id);
    expect(promoted).toHaveLength(2);

    // Within the hour, the cron starts nothing more.
    await cron();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await runsOf()).toHaveLength(1);

    // Users rewarded the hand-made arm well.
    const decision = env.DB.prepare(
      `INSERT INTO decisions (decision_id, system, agent_type, user_id, arm_id, params, context, created_at, reward)
       VALUES (?, 'scheduled_system', 'default', 'u', 'manual', '{}', '{}', ?, 1)`,
    );
    await env.DB.batch(Array.from({ length: 6 }, (_, i) => decision.bind(`d${i}`, new Date().toISOString())));
    // An hour on, the next run's first generation starts from the previous best config.
    await cron(Date.now() + 2 * 3_600_000);
    runs = await until("a second run started", () => started(2));
    expect(runs).toHaveLength(2);
    const second = await finished(runs.find((r) => r.run_id !== first.run_id)?.run_id as string);
    const { results } = await env.DB.prepare("SELECT params FROM candidates WHERE run_id = ? AND generation = 0")
      .bind(second.run_id)
      .all<{ params: string }>();
    const generation0 = results.map((r) => JSON.parse(r.params));
    expect(generation0).toContainEqual(best.best_config);
    // The arm users rewarded best (the hand-made one here) is tried too.
    expect(generation0).toContainEqual({ model: "mock-small", temperature: 0.9 });
    // The second run's winners replace the first's; the hand-made arm stays.
    const arms = (
      await callJson<{ config: { default_arms: { arm_id: string; source?: { run_id: string } }[] } }>("GET", "/v1/systems/scheduled_system")
    ).body.config.default_arms;
    expect(arms.filter((a) => a.source).every((a) => a.source?.run_id === second.run_id)).toBe(true);
    expect(arms.filter((a) => a.source)).toHaveLength(2);
    expect(arms.map((a) => a.arm_id)).toContain("manual");
  });
});
