import type { ArmsObject } from "./objects/arms-object";
import type { RunCoordinator } from "./objects/run-coordinator";

/** A message of the evaluations queue: which run, which (candidate, test case). Never the config or the answer. */
export interface EvaluationMessage {
  run_id: string;
  key: string;
}

/** A message of the control queue: a system whose scheduled re-optimization is due. */
export interface ControlMessage {
  kind: "reoptimize";
  system: string;
  /** When the cron trigger fired (ms): the run's period is reckoned from it. */
  scheduled_time: number;
}

/** The bindings this worker declares in wrangler.toml (and the secret it reads). */
export interface Env {
  DB: D1Database;
  ARMS: DurableObjectNamespace<ArmsObject>;
  RUNS: DurableObjectNamespace<RunCoordinator>;
  EVALUATIONS: Queue<EvaluationMessage>;
  CONTROL: Queue<ControlMessage>;
  /** Workers AI, when the deployment binds it (for `provider: workers-ai` judges and embeddings). */
  AI?: unknown;
  /** Seconds between the run watchdog's checks, and how long a sent evaluation may go unclaimed (default 30). */
  RUN_WATCHDOG_SECONDS?: string;
  /** When set, the only secrets a run's `token_env` may name (comma-separated); see workers/runs/prepare.ts. */
  RUN_SECRET_NAMES?: string;
  /** One API key, or several separated by commas. Without it every /v1 call is refused. */
  CONVERGENCE_API_KEY?: string;
}
