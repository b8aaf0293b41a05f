/**
 * npm run bench:runs
 *
 * A mock-mode optimization on the local service (wrangler dev, loopback only): population 20 x 5 generations x
 * 10 test cases, each mock call really waiting 100 ms, all of a generation allowed in flight at once. It reports
 * the wall time from submitting the run to its result, the target calls, and the ideal critical path
 * (generations x target latency: what a run would take if every generation's calls ran at once and the
 * coordination cost nothing), with their ratio, for a few repetitions and their median. Figures come from a
 * local workerd, whose queue delivers one batch at a time (Cloudflare runs consumers concurrently): compare
 * them with each other, not with production.
 */
import { median } from "../src/optimize/stats.js";
import { createClient } from "../src/sdk/client.js";
import { startLocalService } from "./service.js";

const POPULATION = 20;
const GENERATIONS = 5;
const TEST_CASES = 10;
const LATENCY_MS = 100;
const REPETITIONS = 3;

const config = {
  api: { name: "bench_runs", mock_mode: true, mock_latency_ms: LATENCY_MS },
  search_space: {
    parameters: {
      model: { type: "categorical", values: ["mock-small", "mock-medium", "mock-large"] },
      temperature: { type: "float", min: 0, max: 1.5, step: 0.01 },
      top_p: { type: "float", min: 0.5, max: 1, step: 0.01 },
      max_tokens: { type: "discrete", values: [128, 256, 512, 1024] },
    },
  },
  evaluation: {
    test_cases: {
      inline: Array.from({ length: TEST_CASES }, (_, i) => ({ id: `case_${i}`, input: { prompt: `question number ${i}` } })),
    },
    metrics: { quality: { type: "llm_judge", weight: 0.9 }, cost: { type: "cost_normalized", weight: 0.1, budget_per_call: 0.01 } },
  },
  optimization: {
    algorithm: "evolution",
    evolution: { population_size: POPULATION, generations: GENERATIONS },
    execution: { parallel_workers: POPULATION * TEST_CASES, early_stopping: { enabled: false } },
  },
};

const service = await startLocalService();
try {
  const client = createClient({ baseUrl: service.url, apiKey: service.key });
  const criticalPathMs = GENERATIONS * LATENCY_MS;
  console.log(
    `population ${POPULATION} x ${GENERATIONS} generations x ${TEST_CASES} test cases, mock latency ${LATENCY_MS} ms; critical path ${criticalPathMs} ms`,
  );
  console.log("run  wall (ms)  target calls  generations  wall / critical path");
  const ratios: number[] = [];
  const walls: number[] = [];
  for (let i = 1; i <= REPETITIONS; i++) {
    const started = performance.now();
    let view = await client.startRun(config, { seed: i });
    while (view.status === "running" || view.status === "queued") {
      await new Promise((resolve) => setTimeout(resolve, 20));
      view = await client.getRun(view.run_id);
    }
    const wall = performance.now() - started;
    if (!view.result?.success) throw new Error(`run ${view.run_id} ${view.status}: ${view.result?.error}`);
    const ratio = wall / (view.result.generations_run * LATENCY_MS);
    ratios.push(ratio);
    walls.push(wall);
    console.log(
      `${String(i).padStart(3)}  ${wall.toFixed(0).padStart(9)}  ${String(view.result.target_calls).padStart(12)}  ${String(view.result.generations_run).padStart(11)}  ${ratio.toFixed(2).padStart(20)}`,
    );
  }
  console.log(`median wall ${median(walls).toFixed(0)} ms; median wall / critical path ${median(ratios).toFixed(2)}`);
} finally {
  await service.stop();
}
