/**
 * Runs on the coordinator, for the tests that start them through POST /v1/runs and compare them with the same
 * run in process.
 */
import { env } from "cloudflare:workers";
import { executeRun } from "../../src/run/execute.js";
import { prepareRun } from "../../src/run/prepare.js";
import type { RunView } from "../../src/run/schema.js";
import { type OptimizationResult, toSeedResponse } from "../../src/sdk/response.js";
import type { RunCoordinator } from "../../workers/objects/run-coordinator";
import { callJson } from "./helpers";

export const CASES = [
  { id: "capital", input: { messages: [{ role: "user", content: "What is the capital of Japan?" }] }, expected: { contains: ["Tokyo"] } },
  { id: "math", input: { messages: [{ role: "user", content: "80 km/h for 3 hours?" }] }, expected: { contains: ["240"] } },
];

export function mockRun(overrides: { api?: object; optimization?: object; execution?: object } = {}) {
  return {
    api: { name: "runs_test", mock_mode: true, ...overrides.api },
    search_space: {
      parameters: {
        model: { type: "categorical", values: ["mock-small", "mock-medium", "mock-large"] },
        temperature: { type: "float", min: 0, max: 1.5, step: 0.05 },
      },
    },
    evaluation: {
      test_cases: { inline: CASES },
      metrics: { quality: { type: "llm_judge", weight: 0.8 }, cost: { type: "cost_normalized", weight: 0.2, budget_per_call: 0.01 } },
    },
    optimization: {
      algorithm: "evolution",
      seed: 11,
      evolution: { population_size: 6, generations: 4 },
      ...overrides.optimization,
      execution: { parallel_workers: 4, early_stopping: { enabled: false }, ...overrides.execution },
    },
  };
}

export async function submit(config: unknown, query = ""): Promise<RunView> {
  const started = await callJson<RunView>("POST", `/v1/runs${query}`, config);
  if (started.status !== 202) throw new Error(`POST /v1/runs: ${started.status} ${JSON.stringify(started.body)}`);
  return started.body;
}

/**
 * Poll `check` until it answers something other than undefined: the test waits for what it needs, not for a fixed
 * time. The deadline only ends a test that would wait forever, with room for a loaded machine.
 */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() - start > timeoutMs) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export const running = (view: RunView) => view.status === "running" || view.status === "queued";

export async function finished(runId: string): Promise<RunView> {
  return until(`run ${runId} to end`, async () => {
    const { body } = await callJson<RunView>("GET", `/v1/runs/${runId}`);
    return running(body) ? undefined : body;
  });
}

export const coordinator = (runId: string) => env.RUNS.getByName(runId) as unknown as DurableObjectStub<RunCoordinator>;

export async function evaluationRows(runId: string) {
  const { results } = await env.DB.prepare("SELECT hash, test_case_id FROM evaluations WHERE run_id = ?")
    .bind(runId)
    .all<{ hash: string; test_case_id: string }>();
  return results;
}

export async function inProcess(config: unknown) {
  const prepared = await prepareRun(config);
  if (!prepared.ok) throw new Error("the test config is invalid");
  return success(toSeedResponse(await executeRun(prepared.run, { runId: "local", seed: 11 })));
}

export function success(result: OptimizationResult | null) {
  if (!result?.success) throw new Error(`the run did not succeed: ${result?.error}`);
  return result;
}
