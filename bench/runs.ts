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
 *
 * npm run bench:runs -- long
 *
 * The long run of issue 13 on the local service: tpe, 9 floats, 25 test cases, population 40 x 20 generations,
 * no early stopping, mock mode, about 20,000 target calls. It reports the status, the target calls, the
 * evaluations D1 holds and how many distinct (candidate, test case) pairs they are, and the wall time.
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

async function longRun(client: ReturnType<typeof createClient>): Promise<void> {
  const dims = Array.from({ length: 9 }, (_, i) => `x${i}`);
  const long = {
    api: { name: "bench_long_run", mock_mode: true },
    search_space: { parameters: Object.fromEntries(dims.map((d) => [d, { type: "float", min: 0, max: 1 }])) },
    evaluation: {
      test_cases: { inline: Array.from({ length: 25 }, (_, i) => ({ id: `case_${i}`, input: { prompt: `question number ${i}` } })) },
      metrics: { quality: { type: "llm_judge", weight: 1 } },
    },
    optimization: {
      algorithm: "tpe",
      evolution: { population_size: 40, generations: 20 },
      execution: { parallel_workers: 50, early_stopping: { enabled: false } },
    },
  };
  const started = performance.now();
  let view = await client.startRun(long, { seed: 1 });
  while (view.status === "running" || view.status === "queued") {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    view = await client.getRun(view.run_id);
  }
  const wall = (performance.now() - started) / 1000;
  const pairs = new Set<string>();
  let rows = 0;
  for (let offset = 0; ; offset += 1000) {
    const page = await client.runEvaluations(view.run_id, { limit: 1000, offset });
    for (const e of page) pairs.add(`${e.candidate}|${e.test_case_id}`);
    rows += page.length;
    if (page.length < 1000) break;
  }
  console.log(`long run ${view.run_id}: ${view.status} (${view.result?.success ? view.result.stop_reason : view.result?.error})`);
  console.log(`target calls ${view.result?.target_calls}; evaluations in D1 ${rows}, distinct (candidate, test case) ${pairs.size}`);
  console.log(
    `generations ${view.result?.success ? view.result.generations_run : view.result?.history?.length}, best score ${view.result?.best_score}; wall ${wall.toFixed(0)} s`,
  );
}

const service = await startLocalService();
try {
  const client = createClient({ baseUrl: service.url, apiKey: service.key });
  if (process.argv[2] === "long") await longRun(client);
  else await repeatedRuns(client);
} finally {
  await service.stop();
}

async function repeatedRuns(client: ReturnType<typeof createClient>): Promise<void> {
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
}
