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
import { toSeedResponse } from "../../src/sdk/response.js";
import { finished, submit, success } from "./run-helpers";

/** The example with its whole budget spent (no early stop), with or without RLP. */
function society(rlp: boolean): Record<string, Record<string, unknown>> {
  const config = parse(societyYaml as string) as Record<string, Record<string, unknown>>;
  (config.society as { learning: { rlp_enabled: boolean } }).learning.rlp_enabled = rlp;
  (config.optimization as { execution: Record<string, unknown> }).execution.early_stopping = { enabled: false };
  return config;
}

const SEEDS = (parse(societyYaml as string) as { search_space: { parameters: { system_prompt: { values: string[] } } } }).search_space
  .parameters.system_prompt.values;

describe("RLP on the service", () => {
  it("writes a prompt that is none of the seed values, beats the run without it, and ends as in process", async () => {
    const withRlp = success((await finished((await submit(society(true))).run_id)).result);
    const without = success((await finished((await submit(society(false))).run_id)).result);
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
