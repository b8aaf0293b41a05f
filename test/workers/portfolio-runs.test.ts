/**
 * cmaes and auto runs on the coordinator, through POST /v1/runs and the queue, against the mock target: the same
 * run as in process, also when the coordinator drops its loaded study mid-run (as after an eviction) and resumes
 * the rest from SQLite, sampler state included.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { JsonValue } from "../../src/json.js";
import { coordinator, finished, inProcess, mockRun, submit, success, until } from "./run-helpers";

/** Mostly numeric: 3 floats, 1 categorical, 1 int; two test cases, so the race scores some candidates on one. */
function portfolioRun(algorithm: "cmaes" | "auto") {
  const config = mockRun({
    api: { mock_latency_ms: 40 },
    optimization: { algorithm, evolution: { population_size: 8, generations: 10 } },
  });
  config.search_space.parameters = {
    model: { type: "categorical", values: ["mock-small", "mock-medium", "mock-large"] },
    temperature: { type: "float", min: 0, max: 1.5 },
    top_p: { type: "float", min: 0.1, max: 1 },
    presence_penalty: { type: "float", min: -2, max: 2 },
    top_k: { type: "int", min: 1, max: 50, step: 1 },
  } as unknown as typeof config.search_space.parameters;
  return config;
}

interface Snapshot {
  generations: number;
  status: string;
  sampler: JsonValue;
}

/** What the coordinator's SQLite holds: generations told, the run's status and the sampler's saved state. */
function snapshot(runId: string, dropLoaded = false): Promise<Snapshot> {
  return runInDurableObject(coordinator(runId), (instance, state) => {
    const sql = state.storage.sql;
    const control = JSON.parse(sql.exec<{ state: string }>("SELECT state FROM study_control").one().state) as { sampler: JsonValue };
    const generations = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM study_history").one().n;
    const status = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'status'").one().value;
    // Drop the instance's study: the next step reads it again from SQLite, as a new instance after an eviction.
    if (dropLoaded) (instance as unknown as { loaded: unknown }).loaded = null;
    return { generations, status, sampler: control.sampler };
  });
}

interface CmaView {
  kind: "cmaes";
  restarts: number;
  generation: number;
}

/** How far the CMA search has gone: restarts, then generations told since the last restart. */
const cmaProgress = (sampler: JsonValue) => {
  const s = sampler as unknown as CmaView | null;
  return s?.kind === "cmaes" ? [s.restarts, s.generation] : null;
};
const later = (a: number[], b: number[]) => (a[0] as number) > (b[0] as number) || (a[0] === b[0] && (a[1] as number) > (b[1] as number));

describe.each(["cmaes", "auto"] as const)("a %s run on the coordinator", (algorithm) => {
  it("equals the same run in process, with the coordinator's study dropped and read back from SQLite mid-run", async () => {
    const config = portfolioRun(algorithm);
    const view = await submit(config);
    expect(view.algorithm).toBe(algorithm);
    // Wait until two generations are told (for cmaes: and the CMA search has told one of its own), then drop
    // the loaded study between two reports.
    await until("two generations told", async () => {
      const s = await snapshot(view.run_id);
      if (s.status !== "running") throw new Error(`the run ended (${s.status}) before the test could intervene`);
      if (s.generations < 2) return undefined;
      if (algorithm === "cmaes" && ((cmaProgress(s.sampler)?.[1] ?? 0) as number) < 1) return undefined;
      return true;
    });
    const before = await snapshot(view.run_id, true);
    expect(before.status).toBe("running");
    expect(before.generations).toBeLessThan(10);

    const done = await finished(view.run_id);
    expect(done.status).toBe("succeeded");
    const remote = success(done.result);
    const local = await inProcess(config);
    expect(remote.algorithm).toBe(algorithm);
    expect(remote.best_config).toEqual(local.best_config);
    expect(remote.best_score).toBe(local.best_score);
    expect(remote.target_calls).toBe(local.target_calls);
    expect(remote.history.map((h) => h.best)).toEqual(local.history.map((h) => h.best));
    expect(remote.history).toHaveLength(10);

    // The sampler went on learning after the restart, from the state it read back.
    const after = await snapshot(view.run_id);
    expect(after.generations).toBe(10);
    expect(after.sampler).not.toEqual(before.sampler);
    if (algorithm === "cmaes") {
      const from = cmaProgress(before.sampler) as number[];
      const to = cmaProgress(after.sampler) as number[];
      expect(from[1]).toBeGreaterThanOrEqual(1);
      expect(later(to, from)).toBe(true);
    }
  });
});
