import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../../workers/env";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
      TIGHT_RATE_LIMIT: RateLimit;
      LOG_DB_2: D1Database;
    }
  }
}
