/**
 * `convergence runtime export` as a user runs it (bin/convergence.js), against a loopback stand-in for the service:
 * it follows the cursors to the last page, writes NDJSON, and says why when the service refuses.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExportedDecision, ExportPage } from "../../src/runtime/export.js";
import { runCli } from "../helpers/cli.js";
import { json, type Recorded, startServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

const cli = runCli;

const decision = (i: number): ExportedDecision => ({
  decision_id: `d${i}`,
  system: "shop",
  agent_type: "default",
  user_id: "ann",
  arm_id: "high",
  params: { rate: 0.7 },
  selection_probability: 0.5,
  context: {},
  created_at: `2026-11-0${i}T00:00:00.000Z`,
  reward: 1,
  engagement: null,
  grading: null,
  reward_source: "update",
  rewarded_at: `2026-11-0${i}T00:00:01.000Z`,
  update_metadata: null,
  arms_snapshot: [["high", 2, 1, 0.6]],
  unit_new: 1,
  unit_sum_sq: 1,
  unit_n_sq: 1,
});

let service: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  service = await startServer((request: Recorded, response) => {
    const url = new URL(request.url, "http://stand-in");
    if (url.pathname !== "/v1/systems/shop/export")
      return json(response, 404, { error: { code: "unknown_system", message: "no system named 'x'" } });
    if (url.searchParams.get("since") === "yesterday") {
      return json(response, 400, {
        error: { code: "invalid_request", message: "invalid query", details: [{ path: "query.since", message: "Invalid ISO date" }] },
      });
    }
    const page: ExportPage =
      url.searchParams.get("cursor") === "next"
        ? { system: "shop", decisions: [decision(3)], next_cursor: null }
        : { system: "shop", decisions: [decision(1), decision(2)], next_cursor: "next" };
    json(response, 200, page);
  });
});

afterAll(async () => {
  await service.close();
});

describe("convergence runtime export", () => {
  it("follows the cursors and prints one decision a line", async () => {
    const run = await cli(["runtime", "export", "--system", "shop", "--since", "2026-11-01", "--server", service.url]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as ExportedDecision);
    expect(lines.map((l) => l.decision_id)).toEqual(["d1", "d2", "d3"]);
    const first = service.requests.find((r) => r.url.includes("/export")) as Recorded;
    expect(first.url).toContain("since=2026-11-01");
    expect(first.headers.authorization).toBe("Bearer cli-key");
  });

  it("writes the file only when the export completed", async () => {
    const output = join(tempDir("cli-export"), "log.ndjson");
    const run = await cli(["runtime", "export", "--system", "shop", "--output", output, "--server", service.url]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("3 decisions of shop written to");
    expect(readFileSync(output, "utf8").trim().split("\n")).toHaveLength(3);

    const failed = join(tempDir("cli-export"), "bad.ndjson");
    const bad = await cli(["runtime", "export", "--system", "shop", "--since", "yesterday", "--output", failed, "--server", service.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("query.since: Invalid ISO date");
    expect(existsSync(failed)).toBe(false);
    expect(existsSync(`${failed}.partial`)).toBe(false);
  });

  it("needs a system", async () => {
    const run = await cli(["runtime", "export", "--server", service.url]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("runtime export needs --system S");
  });
});
