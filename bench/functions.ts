/** Standard optimization test functions (minimization), with their known global minima. */
import type { ParamConfig, SearchSpace } from "../src/search/space.js";

export interface TestFunction {
  name: string;
  space: SearchSpace;
  minimum: number;
  value(config: ParamConfig): number;
}

const num = (config: ParamConfig, key: string) => config[key] as number;

/** Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at three points. */
export const branin: TestFunction = {
  name: "Branin",
  space: {
    x1: { type: "float", min: -5, max: 10, step: null, log: false },
    x2: { type: "float", min: 0, max: 15, step: null, log: false },
  },
  minimum: 0.397887,
  value(c) {
    const x1 = num(c, "x1");
    const x2 = num(c, "x2");
    const b = 5.1 / (4 * Math.PI ** 2);
    const cc = 5 / Math.PI;
    const t = 1 / (8 * Math.PI);
    return (x2 - b * x1 ** 2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * Math.cos(x1) + 10;
  },
};

const H6_A = [
  [10, 3, 17, 3.5, 1.7, 8],
  [0.05, 10, 17, 0.1, 8, 14],
  [3, 3.5, 1.7, 10, 17, 8],
  [17, 8, 0.05, 10, 0.1, 14],
];
const H6_P = [
  [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
  [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
  [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.665],
  [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
];
const H6_ALPHA = [1.0, 1.2, 3.0, 3.2];

/** Hartmann6 on [0, 1]^6; minimum -3.32237. */
export const hartmann6: TestFunction = {
  name: "Hartmann6",
  space: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`x${i + 1}`, { type: "float", min: 0, max: 1, step: null, log: false }])),
  minimum: -3.32237,
  value(c) {
    let sum = 0;
    for (let i = 0; i < 4; i++) {
      let inner = 0;
      for (let j = 0; j < 6; j++) {
        inner += (H6_A[i]?.[j] as number) * (num(c, `x${j + 1}`) - (H6_P[i]?.[j] as number)) ** 2;
      }
      sum += (H6_ALPHA[i] as number) * Math.exp(-inner);
    }
    return -sum;
  },
};

const LLM_MODELS = ["small", "medium", "large"] as const;
const LLM_PROMPTS = ["zero_shot", "few_shot", "chain_of_thought", "expert_persona"] as const;
const CEILING = [0.62, 0.78, 0.9];
const COST = [0.02, 0.06, 0.16];
const NEED = [350, 500, 650];
const R = [0.36, 0.54, 0.63];
const Q = [0.8, 0.9, 0.9];
const BONUS = [
  [0, 0.06, -0.02, 0.02],
  [0, 0.03, 0.04, 0.02],
  [0, 0.01, 0.05, 0.03],
];
const SHIFT = [0, 0, -0.09, 0.045];

/** llm_mixed's score in [0, 1] (higher is better), as issue 7 defines it. */
export function llmMixedScore(c: ParamConfig): number {
  const m = LLM_MODELS.indexOf(c.model as (typeof LLM_MODELS)[number]);
  const p = LLM_PROMPTS.indexOf(c.system_prompt as (typeof LLM_PROMPTS)[number]);
  const temperature = num(c, "temperature");
  const topP = num(c, "top_p");
  const tokens = num(c, "max_tokens");
  const quality =
    (CEILING[m] as number) +
    ((BONUS[m] as number[])[p] as number) -
    0.4 * (temperature * topP - (R[m] as number) - (SHIFT[p] as number)) ** 2 -
    0.25 * (topP - (Q[m] as number)) ** 2;
  const penalty = ((COST[m] as number) * tokens) / 1000 + 0.3 / (1 + Math.exp((tokens - (NEED[m] as number)) / 50));
  return Math.min(1, Math.max(0, quality - penalty));
}

/**
 * Issue 7's llm_mixed (minimization of -score): model, system prompt, temperature in steps of 0.01, top_p,
 * integer max_tokens. Optimum 0.8092 at large, chain_of_thought, temperature 0.60, top_p 0.90, max_tokens 828.
 */
export const llmMixed: TestFunction = {
  name: "llm_mixed",
  space: {
    model: { type: "categorical", values: [...LLM_MODELS] },
    system_prompt: { type: "categorical", values: [...LLM_PROMPTS] },
    temperature: { type: "float", min: 0, max: 1.5, step: 0.01, log: false },
    top_p: { type: "float", min: 0.1, max: 1, step: null, log: false },
    max_tokens: { type: "int", min: 100, max: 2000, step: 1, log: false },
  },
  get minimum() {
    // Exhaustive over the discrete part, with top_p on a fine grid around its optimum.
    let best = Number.POSITIVE_INFINITY;
    for (const model of LLM_MODELS) {
      for (const system_prompt of LLM_PROMPTS) {
        for (let t = 0; t <= 150; t++) {
          for (let q = 0; q <= 90; q++) {
            const top_p = 0.1 + q / 100;
            // The token term does not depend on the rest: its best value per model.
            for (const max_tokens of [NEED[LLM_MODELS.indexOf(model)] as number, 700, 750, 800, 828, 850, 900]) {
              best = Math.min(best, -llmMixedScore({ model, system_prompt, temperature: t / 100, top_p, max_tokens }));
            }
          }
        }
      }
    }
    return best;
  },
  value: (c) => -llmMixedScore(c),
};
