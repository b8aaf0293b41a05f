/** The bindings this worker declares in wrangler.toml. */
export interface Env {
  DB: D1Database;
  CONVERGENCE_API_KEY?: string;
}
