/**
 * npm run bench:optimizer
 *
 * 1. Sample efficiency on standard functions: median best value (20 seeds) of evolution and random search at
 *    50, 100 and 200 evaluations, and evolution's regret normalized by random search's at the same budget.
 * 2. Racing on the noisy multi-test-case mock (examples/noisy_mock.yaml): best score and target calls of
 *    mab_evolution and evolution at equal generations and population.
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { validateConfig } from "../src/config/validate.js";
import { type OptimizationSuccess, runOptimization } from "../src/index.js";
import { median } from "../src/optimize/stats.js";
import { surfaceQuality } from "../src/target/mock.js";
import { branin, hartmann6, llmLike, type TestFunction } from "./functions.js";
import { minimize } from "./optimize-function.js";

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);
const BUDGETS = [50, 100, 200];

function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length))) ?? [];
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")).join("\n");
}

function functions(): void {
  const rows: (string | number)[][] = [
    ["function", "evals", "random (median best)", "evolution (median best)", "regret evolution / random"],
  ];
  for (const f of [branin, hartmann6, llmLike] as TestFunction[]) {
    const minimum = f.minimum;
    for (const budget of BUDGETS) {
      const best = (algorithm: "random" | "evolution") =>
        median(SEEDS.map((seed) => minimize(f.space, (c) => f.value(c), { algorithm, budget, seed })));
      const random = best("random");
      const evolution = best("evolution");
      rows.push([f.name, budget, random.toFixed(4), evolution.toFixed(4), ((evolution - minimum) / (random - minimum)).toFixed(3)]);
    }
    rows.push([`  (${f.name} minimum ${minimum.toFixed(5)})`, "", "", "", ""]);
  }
  console.log("Sample efficiency: median best value over 20 seeds (minimization; population 10)\n");
  console.log(table(rows));
}

async function racing(): Promise<void> {
  const base = parse(readFileSync(new URL("../examples/noisy_mock.yaml", import.meta.url), "utf8"));
  const space = validateConfig(base).config?.search_space.parameters;
  if (!space) throw new Error("examples/noisy_mock.yaml is invalid");
  const rows: (string | number)[][] = [
    ["noise", "algorithm", "median best score", "median true quality", "median target calls", "calls vs evolution"],
  ];
  for (const noise of [0.05, 0.1, 0.2]) {
    const results: Record<string, OptimizationSuccess[]> = {};
    for (const algorithm of ["evolution", "mab_evolution"]) {
      results[algorithm] = await Promise.all(
        SEEDS.map(async (seed) => {
          const config = structuredClone(base);
          config.optimization.algorithm = algorithm;
          config.api.mock_noise = noise;
          const result = await runOptimization({ configDict: config, seed });
          if (!result.success) throw new Error(result.error);
          return result;
        }),
      );
    }
    const evolutionCalls = median((results.evolution ?? []).map((r) => r.target_calls));
    for (const [algorithm, runs] of Object.entries(results)) {
      const calls = median(runs.map((r) => r.target_calls));
      rows.push([
        noise,
        algorithm,
        median(runs.map((r) => r.best_score)).toFixed(4),
        median(runs.map((r) => surfaceQuality(space, r.best_config))).toFixed(4),
        calls,
        `${((calls / evolutionCalls) * 100).toFixed(0)}%`,
      ]);
    }
  }
  console.log("\nRacing on the noisy mock: 10 test cases, population 12 x 10 generations, 20 seeds each");
  console.log("(best score: mean over the test cases, what the run optimizes; true quality: the mock's noise-free surface)\n");
  console.log(table(rows));
}

const started = performance.now();
functions();
await racing();
console.log(`\n${((performance.now() - started) / 1000).toFixed(1)} s`);
