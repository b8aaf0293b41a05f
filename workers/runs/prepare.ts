/** prepareRun inside the worker: secrets from the Worker's env, bundled evaluators, its AI and service bindings. */
import { registryLoader } from "../../src/evaluate/evaluator-registry.js";
import type { AiBinding } from "../../src/evaluate/providers.js";
import { type Prepared, prepareRun } from "../../src/sdk/prepare.js";
import type { EnvSource } from "../../src/target/types.js";
import type { Env } from "../env";
import { EVALUATORS } from "../evaluators/index";

export function prepareInWorker(env: Env, raw: unknown): Promise<Prepared> {
  const bindings = env as unknown as Record<string, unknown>;
  return prepareRun(raw, {
    loadEvaluator: registryLoader(EVALUATORS),
    // Worker secrets and vars are the environment `token_env` names refer to; other bindings are not strings.
    env: Object.fromEntries(Object.entries(bindings).filter(([, v]) => typeof v === "string")) as EnvSource,
    ...(env.AI ? { ai: env.AI as unknown as AiBinding } : {}),
    serviceBindings: bindings as Record<string, { fetch: typeof fetch } | undefined>,
  });
}
