import type { ArmsObject } from "./objects/arms-object";

/** The bindings this worker declares in wrangler.toml (and the secret it reads). */
export interface Env {
  DB: D1Database;
  ARMS: DurableObjectNamespace<ArmsObject>;
  /** One API key, or several separated by commas. Without it every /v1 call is refused. */
  CONVERGENCE_API_KEY?: string;
}
