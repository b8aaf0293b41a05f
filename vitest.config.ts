import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const migrationsDir = fileURLToPath(new URL("./migrations", import.meta.url));

// Sized for a loaded 2-core machine: there (the whole suite beside two busy processes) the slowest test under the
// default timeout took 25 s, and hooks such as stopping the local service get more than vitest's 10 s. A test that
// needs more says so itself; how fast things are is for npm run bench:*, not for a timeout.
const timeouts = { testTimeout: 120_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "core",
          environment: "node",
          include: ["test/core/**/*.test.ts"],
          globalSetup: ["./test/core/global-setup.ts"],
          ...timeouts,
        },
      },
      {
        test: {
          name: "browser",
          environment: "node",
          include: ["test/browser/**/*.test.ts"],
          ...timeouts,
        },
      },
      {
        plugins: [
          cloudflareTest(async () => ({
            main: "./workers/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations(migrationsDir),
                CONVERGENCE_API_KEY: "test-key-1, test-key-2",
                // The one opening of the run policy: the coordinator and the queue consumer read this env, not a
                // test's override, so the run through TEAM_API needs it here. Tests of refusals remove it.
                RUN_SERVICE_BINDINGS: "TEAM_API",
              },
              // A limiter the rate-limit test can exhaust without throttling the other tests (wrangler.toml's stay).
              ratelimits: { TIGHT_RATE_LIMIT: { simple: { limit: 3, period: 60 } } },
              // A second decision-log database, as a deployment past one database's write rate adds (LOG_DATABASES).
              d1Databases: { LOG_DB_2: "log-db-2" },
              // The safety net of every workers test (the API fuzz test above all): the worker reaches loopback only
              // (a target on 127.0.0.1, say). workerd filters each address a name resolves to, so any other host fails
              // at once, as if it did not resolve, and no input can make the service call out.
              outboundService: { network: { allow: ["local"], deny: [] } },
              // Another Worker of the team's, for `api.service`: it echoes the temperature it was asked for, and the
              // run header (src/target/egress.ts) it got.
              serviceBindings: {
                TEAM_API: async (request: Request) => {
                  const body = (await request.json()) as { temperature?: number };
                  const run = request.headers.get("x-convergence-run");
                  const answer = `temperature ${body.temperature} from ${new URL(request.url).pathname} for run ${run}`;
                  return Response.json({ choices: [{ message: { content: answer } }], usage: { prompt_tokens: 3, completion_tokens: 5 } });
                },
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/workers/**/*.test.ts"],
          // Drops the one harmless workerd line the pool prints at the end of every file (cloudflare/workers-sdk#13833).
          globalSetup: ["./test/workerd-logs.ts"],
          ...timeouts,
          setupFiles: ["./test/workers/apply-migrations.ts"],
        },
      },
    ],
  },
});
