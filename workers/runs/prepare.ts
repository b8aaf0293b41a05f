/**
 * prepareRun inside the worker: secrets from the Worker's env, bundled evaluators, its AI and service bindings, and
 * the run policy (what a run may reach) from the deployment's vars, read each time a run is prepared.
 */
import { registryLoader } from "../../src/evaluate/evaluator-registry.js";
import type { AiBinding } from "../../src/evaluate/providers.js";
import { type Prepared, prepareRun, type RunPolicy } from "../../src/run/prepare.js";
import { hostList } from "../../src/target/egress.js";
import type { EnvSource } from "../../src/target/types.js";
import type { Env } from "../env";
import { EVALUATORS } from "../evaluators/index";

const names = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");

/** Convergence's own secrets and settings: never handed to a run, whatever RUN_SECRET_NAMES says. */
const OWN = /^(CONVERGENCE_|RUN_)/;

/**
 * The Worker secrets and vars a config's `token_env` may name: those the RUN_SECRET_NAMES var lists
 * (comma-separated), none when it is unset. Whoever can submit a run can make the service send these to the
 * endpoint the config names, so the deployment opts in name by name, and Convergence's own never are.
 */
export function secretsForRuns(env: Env): EnvSource {
  const source = env as unknown as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const name of names(env.RUN_SECRET_NAMES)) {
    const value = source[name];
    if (typeof value === "string" && !OWN.test(name)) out[name] = value;
  }
  return out;
}

export interface RunOrigin {
  /** The run's id: the value of the run header on every call it makes. */
  runId?: string;
  /** The hosts the run was started through (the request's), besides the SERVICE_HOSTS var. */
  ownHosts?: readonly string[];
}

/** The policy of runs on this deployment (see src/target/egress.ts and docs/runs-on-the-service.md, "What a run on the service may reach"). */
function runPolicy(env: Env, origin: RunOrigin = {}): RunPolicy {
  return {
    secretNames: names(env.RUN_SECRET_NAMES).filter((n) => !OWN.test(n)),
    serviceBindings: names(env.RUN_SERVICE_BINDINGS),
    egress: {
      allowedHosts: hostList(env.RUN_ALLOWED_HOSTS),
      ownHosts: [...(origin.ownHosts ?? []), ...hostList(env.SERVICE_HOSTS)],
    },
    marker: origin.runId ?? "1",
  };
}

/** A worker reads no files: a module a config names must be compiled in, or the evaluator served over HTTP. */
function notBundled(module: string): string {
  const bundled = Object.keys(EVALUATORS);
  return `the evaluator module '${module}' is not bundled in this deployment (bundled: ${bundled.join(", ") || "none"}): add it to workers/evaluators/index.ts and redeploy, or serve it over HTTP and set custom_evaluator.url`;
}

export function prepareInWorker(env: Env, raw: unknown, origin: RunOrigin = {}): Promise<Prepared> {
  const bindings = env as unknown as Record<string, unknown>;
  return prepareRun(raw, {
    loadEvaluator: registryLoader(EVALUATORS),
    missingModule: notBundled,
    env: secretsForRuns(env),
    ...(env.AI ? { ai: env.AI as unknown as AiBinding } : {}),
    serviceBindings: bindings as Record<string, { fetch: typeof fetch } | undefined>,
    runPolicy: runPolicy(env, origin),
  });
}
