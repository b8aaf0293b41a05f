/** prepareRun inside the worker: secrets from the Worker's env, bundled evaluators, its AI and service bindings. */
import { registryLoader } from "../../src/evaluate/evaluator-registry.js";
import type { AiBinding } from "../../src/evaluate/providers.js";
import { type Prepared, prepareRun } from "../../src/sdk/prepare.js";
import type { EnvSource } from "../../src/target/types.js";
import type { Env } from "../env";
import { EVALUATORS } from "../evaluators/index";

/**
 * The Worker secrets and vars a config's `token_env` may name. Whoever can submit a run can make the service send
 * these to the endpoint the config names, so Convergence's own (CONVERGENCE_*, RUN_*) never are; and when the
 * RUN_SECRET_NAMES var lists names (comma-separated), only those are.
 */
export function secretsForRuns(env: Env): EnvSource {
  const allowed = env.RUN_SECRET_NAMES?.split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env as unknown as Record<string, unknown>)) {
    if (typeof value !== "string" || /^(CONVERGENCE_|RUN_)/.test(name)) continue;
    if (allowed && !allowed.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

export function prepareInWorker(env: Env, raw: unknown): Promise<Prepared> {
  const bindings = env as unknown as Record<string, unknown>;
  return prepareRun(raw, {
    loadEvaluator: registryLoader(EVALUATORS),
    env: secretsForRuns(env),
    ...(env.AI ? { ai: env.AI as unknown as AiBinding } : {}),
    serviceBindings: bindings as Record<string, { fetch: typeof fetch } | undefined>,
  });
}
