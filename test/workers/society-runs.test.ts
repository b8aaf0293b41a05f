/**
 * The society's reasoning proposer (RLP) on the service: examples/society.yaml run by its RunCoordinator writes a
 * prompt no seed value holds and beats the same run without RLP, and ends where the same run in process ends.
 */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
// @ts-expect-error: vite's ?raw import (the text of the file), which the workers pool resolves at build time
import societyYaml from "../../examples/society.yaml?raw";
import { executeRun } from "../../src/run/execute.js";
import { prepareRun } from "../../src/run/prepare.js";
import type { RunView } from "../../src/run/schema.js";
import { toSeedResponse } from "../../src/sdk/response.js";
import { PreferencePairSchema } from "../../src/society/preferences.js";
import { call, callJson } from "./helpers";
import { finished, submit, success } from "./run-helpers";

/** The example with its whole budget spent (no early stop), with or without RLP. */
function society(rlp: boolean): Record<string, Record<string, unknown>> {
  const config = parse(societyYaml as string) as Record<string, Record<string, unknown>>;
  (config.society as { learning: { rlp_enabled: boolean } }).learning.rlp_enabled = rlp;
  (config.optimization as { execution: Record<string, unknown> }).execution.early_stopping = { enabled: false };
  return config;
}

let withoutRlp: Promise<RunView> | undefined;
/** The example run without RLP, finished: one run for both tests that compare with it. */
const finishedWithoutRlp = (): Promise<RunView> => {
  withoutRlp ??= submit(society(false)).then((started) => finished(started.run_id));
  return withoutRlp;
};

const SEEDS = (parse(societyYaml as string) as { search_space: { parameters: { system_prompt: { values: string[] } } } }).search_space
  .parameters.system_prompt.values;

/** The body as text, decoded by hand: workerd warns on .text() of a body whose type is not text/*. */
async function ndjsonText(response: Response): Promise<string> {
  return new TextDecoder().decode(await response.arrayBuffer());
}

describe("SAO on the service", () => {
  it("answers the run's preference pairs as NDJSON, chosen above rejected by the margin; 409 for a run without SAO", async () => {
    const config = society(true);
    (config.society as { learning: Record<string, unknown> }).learning.sao_enabled = true;
    const run = await finished((await submit(config)).run_id);
    const response = await call("GET", `/v1/runs/${run.run_id}/preferences`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = (await ndjsonText(response)).trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const pair = PreferencePairSchema.parse(JSON.parse(line));
      expect(pair.chosen_score - pair.rejected_score).toBeGreaterThanOrEqual(0.1);
    }
    // The winner, checked on variations of its weakest cases once the run was over.
    expect(success(run.result).generalization).toMatchObject({ generated_cases: 6, dropped: 0 });
    // A page at a time: the count of them all, and where the next page starts.
    const first = await call("GET", `/v1/runs/${run.run_id}/preferences?limit=1`);
    expect((await ndjsonText(first)).trimEnd().split("\n")).toEqual([lines[0]]);
    expect(first.headers.get("x-total-count")).toBe(String(lines.length));
    expect(first.headers.get("x-next-offset")).toBe(lines.length > 1 ? "1" : null);
    const tooMany = await callJson<{ error: { details: { path: string }[] } }>("GET", `/v1/runs/${run.run_id}/preferences?limit=5000`);
    expect(tooMany).toMatchObject({ status: 400, body: { error: { details: [{ path: "query.limit" }] } } });
    const tooFar = await callJson<{ error: { details: { path: string }[] } }>("GET", `/v1/runs/${run.run_id}/preferences?offset=50001`);
    expect(tooFar).toMatchObject({ status: 400, body: { error: { details: [{ path: "query.offset" }] } } });
    const without = await finishedWithoutRlp();
    const refused = await callJson<{ error: { code: string } }>("GET", `/v1/runs/${without.run_id}/preferences`);
    expect(refused).toMatchObject({ status: 409, body: { error: { code: "no_preferences" } } });
    expect((await call("GET", "/v1/runs/no_such_run/preferences")).status).toBe(404);
    expect((await call("GET", "/v1/runs/not%20a%20run/preferences")).status).toBe(400);
  });
});

describe("RLP on the service", () => {
  it("writes a prompt that is none of the seed values, beats the run without it, and ends as in process", async () => {
    const withRlp = success((await finished((await submit(society(true))).run_id)).result);
    const without = success((await finishedWithoutRlp()).result);
    expect(SEEDS).not.toContain(withRlp.best_config.system_prompt);
    expect(withRlp.best_score).toBeGreaterThan(without.best_score);
    expect(withRlp.society).toMatchObject({ failed_calls: 0, invalid: 0, best_proposed: true });
    expect(withRlp.society?.proposer_calls).toBeGreaterThan(0);
    expect(without.society).toBeUndefined();

    const prepared = await prepareRun(society(true));
    if (!prepared.ok) throw new Error("the example does not validate");
    const local = success(toSeedResponse(await executeRun(prepared.run, { runId: "local", seed: 7 })));
    expect(withRlp.best_config).toEqual(local.best_config);
    expect(withRlp.best_score).toBeCloseTo(local.best_score, 10);
  });
});
