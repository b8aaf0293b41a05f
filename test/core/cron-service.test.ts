/**
 * The cron trigger on the local service (`npm start`), which wrangler dev never fires by itself: fired the way
 * `npm start` prints (GET /__scheduled), it runs the Worker's scheduled duties, so a system whose re-optimization is
 * due gets its scheduled run, listed by GET /v1/runs, and the run's winners become the system's arms.
 */
import { describe, expect, it } from "vitest";
import { createClient } from "../../src/index.js";
import { localServiceForFile } from "../helpers/local-service.js";

const service = localServiceForFile();

/** An optimization the mock target answers (no call leaves the machine): 4 candidates, 2 generations. */
const reoptimize = {
  every: "1h",
  config: {
    api: { name: "cron_test", mock_mode: true },
    search_space: {
      parameters: {
        model: { type: "categorical", values: ["mock-small", "mock-medium", "mock-large"] },
        temperature: { type: "float", min: 0, max: 1.5, step: 0.05 },
      },
    },
    evaluation: {
      test_cases: {
        inline: [
          {
            id: "capital",
            input: { messages: [{ role: "user", content: "What is the capital of Japan?" }] },
            expected: { contains: ["Tokyo"] },
          },
        ],
      },
      metrics: { quality: { type: "llm_judge", weight: 1 } },
    },
    optimization: {
      algorithm: "evolution",
      seed: 5,
      evolution: { population_size: 4, generations: 2 },
      execution: { parallel_workers: 2, early_stopping: { enabled: false } },
    },
  },
  promote: { top_k: 2 },
};

describe("the cron trigger under npm start", () => {
  it("starts a due scheduled re-optimization, which lists as a run and promotes its winners", async () => {
    const client = createClient({ baseUrl: service().url, apiKey: service().key });
    await client.configureSystem("nightly_tuned", { default_arms: [{ arm_id: "manual", params: { model: "mock-small" } }], reoptimize });
    expect((await client.listRuns({ system: "nightly_tuned" })).runs).toEqual([]);

    // The command npm start prints, as a user copies it.
    const trigger = service()
      .output()
      .match(/Cron trigger \(not fired by itself locally\): curl "(\S+)"/)?.[1];
    expect(trigger).toBe(`${service().url}/__scheduled`);
    const fired = await fetch(trigger as string);
    expect(fired.status).toBe(200);
    await fired.text();

    // The scheduled duties put the system on the control queue; its consumer starts the run. Poll, however slow.
    await expect
      .poll(async () => (await client.listRuns({ system: "nightly_tuned" })).runs.map((r) => [r.trigger, r.status]), {
        timeout: 90_000,
        interval: 250,
      })
      .toEqual([["schedule", "succeeded"]]);
    const [run] = (await client.listRuns({ system: "nightly_tuned" })).runs;
    expect(run?.run_id).toMatch(/^nightly_tuned\.scheduled\.\d+$/);

    // Its two best configs join the hand-made arm (the promotion may land just after the run's status).
    await expect
      .poll(async () => (await client.getSystem("nightly_tuned")).config.default_arms.map((a) => a.source?.run_id ?? a.arm_id).sort(), {
        timeout: 60_000,
        interval: 250,
      })
      .toEqual(["manual", run?.run_id, run?.run_id]);
  }, 200_000);
});
