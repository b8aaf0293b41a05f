import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const migrationsDir = fileURLToPath(new URL("./migrations", import.meta.url));

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "core",
          environment: "node",
          include: ["test/core/**/*.test.ts"],
          globalSetup: ["./test/core/global-setup.ts"],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "browser",
          environment: "node",
          include: ["test/browser/**/*.test.ts"],
          testTimeout: 60_000,
        },
      },
      {
        plugins: [
          cloudflareTest(async () => ({
            main: "./workers/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { TEST_MIGRATIONS: await readD1Migrations(migrationsDir), CONVERGENCE_API_KEY: "test-key-1, test-key-2" },
              // Another Worker of the team's, for `api.service`: it echoes the temperature it was asked for.
              serviceBindings: {
                TEAM_API: async (request: Request) => {
                  const body = (await request.json()) as { temperature?: number };
                  const answer = `temperature ${body.temperature} from ${new URL(request.url).pathname}`;
                  return Response.json({ choices: [{ message: { content: answer } }], usage: { prompt_tokens: 3, completion_tokens: 5 } });
                },
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/workers/**/*.test.ts"],
          testTimeout: 60_000,
          setupFiles: ["./test/workers/apply-migrations.ts"],
        },
      },
    ],
  },
});
