/** Starting a run in the worker: validate with the SDK's validator, record it in D1, hand it to its coordinator. */
import type { ConfigIssue } from "../../src/config/issues.js";
import { maxCalls } from "../../src/run/execute.js";
import type { Prepared } from "../../src/run/prepare.js";
import type { RunView } from "../../src/run/schema.js";
import { newRunId, randomSeed } from "../../src/sdk/response.js";
import type { ParamConfig } from "../../src/search/space.js";
import { insertRun, markFailed } from "../db/runs";
import type { Env } from "../env";
import type { RunCoordinator, RunSpec } from "../objects/run-coordinator";
import { prepareInWorker } from "./prepare";

/** The RPC surface of RunCoordinator, named plainly (the generated stub types of recursive JSON are too deep). */
export type RunRpc = Pick<RunCoordinator, "start" | "claim" | "report" | "cancel" | "view" | "config" | "candidates">;

export const runOf = (env: Env, runId: string): RunRpc => env.RUNS.getByName(runId) as unknown as RunRpc;

/** The optimizer state of a run grows by about 50 bytes a call, and a Durable Object row holds 2 MB. */
export const MAX_RUN_CALLS = 20_000;

export interface StartOptions {
  /** A run id of the caller's: starting the same id twice starts one run (scheduled runs are named by period). */
  runId?: string;
  seed?: number;
  trigger?: RunSpec["trigger"];
  system?: string | null;
  initialConfigs?: ParamConfig[];
  promote?: RunSpec["promote"];
  /** The host the run is started through (the request's): its calls may not reach it (see src/target/egress.ts). */
  ownHosts?: string[];
}

/**
 * Every problem a run config has on this service (its validity, this deployment's run policy, the call bound), or
 * the prepared run: what starting it would check, for a config kept to start later (a system's reoptimize).
 */
export async function checkRunConfig(
  env: Env,
  raw: unknown,
  ownHosts: readonly string[],
): Promise<{ ok: true; run: Extract<Prepared, { ok: true }>["run"] } | { ok: false; errors: ConfigIssue[] }> {
  const prepared = await prepareInWorker(env, raw, { ownHosts });
  if (!prepared.ok) return { ok: false, errors: prepared.errors };
  const calls = maxCalls(prepared.run);
  if (calls > MAX_RUN_CALLS) {
    return {
      ok: false,
      errors: [
        {
          path: "optimization.evolution",
          message: `a run on the service makes at most ${MAX_RUN_CALLS} target calls (its optimizer state lives in one Durable Object row); population_size x generations x test cases is ${calls}: lower one, or set execution.max_target_calls`,
        },
      ],
    };
  }
  return { ok: true, run: prepared.run };
}

/** Refuses a bad config with every problem (nothing recorded, nothing enqueued); else starts the run. */
export async function startRun(
  env: Env,
  raw: unknown,
  options: StartOptions = {},
): Promise<{ ok: true; view: RunView | null; started: boolean } | { ok: false; errors: ConfigIssue[] }> {
  const ownHosts = options.ownHosts ?? [];
  const prepared = await checkRunConfig(env, raw, ownHosts);
  if (!prepared.ok) return prepared;
  const { config } = prepared.run;
  const seed = options.seed ?? config.optimization.seed ?? randomSeed();
  // The run id names a Durable Object and travels in URLs: keep it to safe characters.
  const runId = options.runId ?? newRunId(config.api.name.replace(/[^A-Za-z0-9_.-]+/g, "-").slice(0, 60));
  const space = Object.keys(config.search_space.parameters);
  const initial = (options.initialConfigs ?? [])
    .filter((c) => space.every((name) => Object.hasOwn(c, name)))
    .map((c) => Object.fromEntries(space.map((name) => [name, c[name] ?? null])) as ParamConfig);
  const inserted = await insertRun(env.DB, {
    run_id: runId,
    api_name: config.api.name,
    algorithm: config.optimization.algorithm,
    seed,
    trigger: options.trigger ?? "api",
    system: options.system ?? null,
  });
  if (!inserted) return { ok: true, view: await runOf(env, runId).view(), started: false };
  try {
    const view = await runOf(env, runId).start({
      run_id: runId,
      config: raw,
      seed,
      trigger: options.trigger ?? "api",
      system: options.system ?? null,
      initial_configs: initial,
      promote: options.promote ?? null,
      own_hosts: ownHosts,
      created_at: new Date().toISOString(),
    });
    return { ok: true, view, started: true };
  } catch (error) {
    // Not left "queued" forever: the run is recorded as failed, and the caller hears why.
    await markFailed(env.DB, runId, `the run could not start: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}
