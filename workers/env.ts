import type { ArmsObject } from "./objects/arms-object";
import type { DecisionLogShard } from "./objects/decision-log-shard";
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
  /** Where users' decisions meet on their way to D1 (workers/objects/decision-log-shard.ts). */
  LOG_SHARDS: DurableObjectNamespace<DecisionLogShard>;
  /** Decisions older than a system's retention, one gzip NDJSON object per system, day and chunk (workers/db/archive.ts). */
  ARCHIVE: R2Bucket;
  /**
   * The D1 bindings new systems' decision logs go to (comma-separated, default "DB"): a deployment past one
   * database's write rate adds a binding and lists it (workers/db/log-database.ts).
   */
  LOG_DATABASES?: string;
  EVALUATIONS: Queue<EvaluationMessage>;
  CONTROL: Queue<ControlMessage>;
  /** Workers AI, when the deployment binds it (for `provider: workers-ai` judges and embeddings). */
  AI?: unknown;
  /** Seconds between the run watchdog's checks, and how long a sent evaluation may go unclaimed (default 30). */
  RUN_WATCHDOG_SECONDS?: string;
  /** The only secrets a run's `token_env` may name (comma-separated); none when unset. See workers/runs/prepare.ts. */
  RUN_SECRET_NAMES?: string;
  /** The only service bindings a run's `api.service` may name (comma-separated); none when unset. */
  RUN_SERVICE_BINDINGS?: string;
  /**
   * Hosts a run may call although they are loopback, private, link-local or this service's own (`host` or
   * `host:port`, comma-separated). See src/target/egress.ts.
   */
  RUN_ALLOWED_HOSTS?: string;
  /**
   * This deployment's other hosts (custom domains, workers.dev), comma-separated: runs may not call them. The host
   * a run was started through counts without being listed.
   */
  SERVICE_HOSTS?: string;
  /** Per-key limits of runtime calls (select, update, reading a decision) and of every other call: wrangler.toml. */
  RUNTIME_RATE_LIMIT?: RateLimit;
  ADMIN_RATE_LIMIT?: RateLimit;
  /** The bootstrap admin key, or several separated by commas. Without it only scoped keys (POST /v1/keys) work. */
  CONVERGENCE_API_KEY?: string;
}
