/**
 * The CLI's listing commands (runtime systems, runtime decisions, runs list, keys list) as a user runs them
 * (bin/convergence.js), against a loopback stand-in for the service that answers two items a page: every page is
 * read, by its cursor, unless --limit N says to stop.
 */
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { json, type Recorded, startServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

const cli = (args: string[]) => runCli([...args, "--server", service.url]);

const AT = "2026-03-01T00:00:00.000Z";
const LISTINGS: Record<string, { field: string; items: Record<string, unknown>[] }> = {
  "/v1/systems": {
    field: "systems",
    items: Array.from({ length: 5 }, (_, i) => ({ system: `s${i}`, version: 1, agent_type: "default", arms: 2, updated_at: AT })),
  },
  "/v1/runs": {
    field: "runs",
    items: Array.from({ length: 5 }, (_, i) => ({
      run_id: `r${i}`,
      api_name: "api",
      status: "succeeded",
      algorithm: "evolution",
      seed: 1,
      trigger: "api",
      system: null,
      created_at: AT,
      finished_at: AT,
      best_score: 0.5,
      best_config: null,
      target_calls: 10,
      generations_run: 1,
      error: null,
    })),
  },
  "/v1/keys": {
    field: "keys",
    items: Array.from({ length: 5 }, (_, i) => ({
      id: `key_000000000000000${i}`,
      scope: "runtime",
      systems: ["*"],
      name: null,
      created_at: AT,
      revoked_at: null,
    })),
  },
  "/v1/systems/shop/decisions": {
    field: "decisions",
    items: Array.from({ length: 5 }, (_, i) => ({
      decision_id: `default~tag~d${i}`,
      user_id: "ann",
      agent_type: "default",
      arm_id: "a",
      params: {},
      selection_probability: 0.5,
      context: {},
      created_at: AT,
      reward: null,
      reward_source: null,
      rewarded_at: null,
    })),
  },
};

/** The requests of one listing path: the query of each, as the CLI sent it. */
const queries = (path: string) =>
  service.requests
    .map((r) => new URL(r.url, "http://x"))
    .filter((u) => u.pathname === path)
    .map((u) => Object.fromEntries(u.searchParams));

let service: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  service = await startServer((request: Recorded, response) => {
    const url = new URL(request.url, "http://x");
    // As the service answers a request without a key.
    if (!request.headers.authorization) {
      return json(response, 401, { error: { code: "unauthorized", message: "send the API key as 'Authorization: Bearer <key>'" } });
    }
    const listing = LISTINGS[url.pathname];
    if (!listing) return json(response, 404, { error: { code: "not_found", message: `no route ${url.pathname}` } });
    // Two a page, whatever the limit: the CLI must follow next_cursor, not count.
    const from = Number(url.searchParams.get("cursor")?.replace("after-", "") ?? 0);
    const next = from + 2 < listing.items.length ? `after-${from + 2}` : null;
    json(response, 200, { [listing.field]: listing.items.slice(from, from + 2), next_cursor: next });
  });
});

beforeEach(() => {
  service.requests.length = 0;
});

afterAll(async () => {
  await service.close();
});

describe("the CLI's listings", () => {
  it("reads every page of systems, runs and keys by its cursor, a line per item", async () => {
    for (const [args, path, id] of [
      [["runtime", "systems"], "/v1/systems", "system"],
      [["runs", "list"], "/v1/runs", "run_id"],
      [["keys", "list"], "/v1/keys", "id"],
    ] as const) {
      const run = await cli([...args]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split("\n");
      const ids = (LISTINGS[path]?.items ?? []).map((item) => item[id] as string);
      expect(lines).toHaveLength(5);
      expect(lines.map((line) => line.split(" ")[0])).toEqual(ids);
      expect(queries(path)).toEqual([{ limit: "500" }, { limit: "500", cursor: "after-2" }, { limit: "500", cursor: "after-4" }]);
    }
  });

  it("prints one JSON array of every page with --json, and stops reading at --limit N", async () => {
    const all = await cli(["runs", "list", "--json"]);
    expect(JSON.parse(all.stdout).map((r: { run_id: string }) => r.run_id)).toEqual(["r0", "r1", "r2", "r3", "r4"]);
    service.requests.length = 0;
    const three = await cli(["keys", "list", "--limit", "3", "--json"]);
    expect(JSON.parse(three.stdout)).toHaveLength(3);
    // Pages of at most 3, and no page read past the third key.
    expect(queries("/v1/keys")).toEqual([{ limit: "3" }, { limit: "3", cursor: "after-2" }]);
  });

  it("lists a system's decisions, of one user, a JSON object a line, every page", async () => {
    const run = await cli(["runtime", "decisions", "--system", "shop", "--user", "ann"]);
    expect(run.code).toBe(0);
    const decisions = run.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(decisions.map((d) => d.decision_id)).toEqual(["d0", "d1", "d2", "d3", "d4"].map((d) => `default~tag~${d}`));
    expect(queries("/v1/systems/shop/decisions")).toEqual([
      { limit: "500", user_id: "ann" },
      { limit: "500", user_id: "ann", cursor: "after-2" },
      { limit: "500", user_id: "ann", cursor: "after-4" },
    ]);
  });

  it("refuses bad usage with exit 2 before calling anything", async () => {
    expect((await cli(["runtime", "decisions"])).stderr).toMatch(/runtime decisions needs --system S/);
    const zero = await cli(["runtime", "systems", "--limit", "0"]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--limit must be a whole number from 1, got '0'/);
    expect((await cli(["runtime", "systems", "extra"])).stderr).toMatch(/unexpected argument 'extra'/);
    expect(service.requests).toHaveLength(0);
  });

  it("says to set CONVERGENCE_API_KEY, and where .dev.vars was looked for, when it has no key to send", async () => {
    const folder = tempDir("cli-no-key-");
    const run = await runCli(["runtime", "systems", "--server", service.url], { key: null, cwd: folder });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no API key was sent: set CONVERGENCE_API_KEY/);
    expect(run.stderr).toContain(join(folder, ".dev.vars"));
    expect(run.stderr).not.toMatch(/Authorization: Bearer/);
  });

  it("reports the service's refusal of a listing, exit 2 for a 4xx", async () => {
    const run = await cli(["runtime", "decisions", "--system", "nowhere"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no route \/v1\/systems\/nowhere\/decisions/);
  });
});
