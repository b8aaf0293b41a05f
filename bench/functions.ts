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

const MODELS = ["small", "medium", "large", "xl"] as const;
const PROMPTS = ["terse", "default", "step_by_step", "expert", "few_shot"] as const;

/**
 * An LLM-like mixed space: categorical model and prompt, continuous temperature and top_p, integer max_tokens
 * (log scale). Loss = 1 - quality + cost; the best trade-off is medium + few_shot near temperature 0.3,
 * top_p 0.9, max_tokens about 600.
 */
export const llmLike: TestFunction = {
  name: "LLM-like mixed",
  space: {
    model: { type: "categorical", values: [...MODELS] },
    prompt: { type: "categorical", values: [...PROMPTS] },
    temperature: { type: "float", min: 0, max: 2, step: null, log: false },
    top_p: { type: "float", min: 0.1, max: 1, step: null, log: false },
    max_tokens: { type: "int", min: 64, max: 4096, step: 1, log: true },
  },
  get minimum() {
    // temperature 0.3 and top_p 0.9 maximize the shape term whatever the rest; search the rest exhaustively.
    let best = Number.POSITIVE_INFINITY;
    for (const model of MODELS) {
      for (const prompt of PROMPTS) {
        for (let tokens = 64; tokens <= 4096; tokens++) {
          best = Math.min(best, this.value({ model, prompt, temperature: 0.3, top_p: 0.9, max_tokens: tokens }));
        }
      }
    }
    return best;
  },
  value(c) {
    const model = MODELS.indexOf(c.model as (typeof MODELS)[number]);
    const prompt = PROMPTS.indexOf(c.prompt as (typeof PROMPTS)[number]);
    const modelQuality = [0.55, 0.8, 0.88, 0.9][model] as number;
    const promptBonus = [-0.08, 0, 0.05, 0.03, 0.08][prompt] as number;
    const temperature = num(c, "temperature");
    const topP = num(c, "top_p");
    const tokens = num(c, "max_tokens");
    const shape = Math.exp(-(((temperature - 0.3) / 0.5) ** 2)) * Math.exp(-(((topP - 0.9) / 0.4) ** 2));
    const truncation = Math.min(1, tokens / 600);
    const quality = (modelQuality + promptBonus) * (0.6 + 0.4 * shape) * (0.7 + 0.3 * truncation);
    const cost = ([0.01, 0.03, 0.12, 0.3][model] as number) * (tokens / 1000) * (prompt === 4 ? 1.5 : 1);
    return 1 - quality + cost;
  },
};
