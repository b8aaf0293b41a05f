/** Standard optimization test functions (minimization), with their known global minima. */
import { Rng } from "../src/search/rng.js";
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

const float = (min: number, max: number) => ({ type: "float" as const, min, max, step: null, log: false });
/** d float parameters x1..xd on [min, max]. */
const box = (d: number, min: number, max: number): SearchSpace =>
  Object.fromEntries(Array.from({ length: d }, (_, i) => [`x${i + 1}`, float(min, max)]));
const vector = (c: ParamConfig, d: number) => Array.from({ length: d }, (_, i) => num(c, `x${i + 1}`));

/**
 * A fixed optimum location, as BBOB shifts its functions: drawn once from a seeded Rng inside the middle 80% of
 * [min, max], so a sampler that starts at the centre of the box gets no free win.
 */
function shiftOf(seed: number, d: number, min: number, max: number): number[] {
  const rng = Rng.fromSeed(seed);
  const margin = 0.1 * (max - min);
  return Array.from({ length: d }, () => rng.uniform(min + margin, max - margin));
}

/** A fixed d x d orthogonal matrix: Gram-Schmidt on Gaussian rows from a seeded Rng. */
function rotationOf(seed: number, d: number): number[][] {
  const rng = Rng.fromSeed(seed);
  const rows: number[][] = [];
  while (rows.length < d) {
    const v = Array.from({ length: d }, () => rng.normal());
    for (const r of rows) {
      const dot = r.reduce((s, ri, i) => s + ri * (v[i] as number), 0);
      for (let i = 0; i < d; i++) v[i] = (v[i] as number) - dot * (r[i] as number);
    }
    const norm = Math.hypot(...v);
    if (norm > 1e-8) rows.push(v.map((x) => x / norm));
  }
  return rows;
}

const rotate = (m: number[][], z: number[]) => m.map((row) => row.reduce((s, r, i) => s + r * (z[i] as number), 0));

const RASTRIGIN_SHIFT = shiftOf(101, 10, -5.12, 5.12);

/**
 * Rastrigin, 10-D on [-5.12, 5.12], shifted: 10 d + sum (z^2 - 10 cos 2 pi z), z = x - x_opt; minimum 0 at x_opt.
 * Separable but with about 10^10 regularly spaced local minima: tests escaping local basins.
 */
export const rastrigin: TestFunction = {
  name: "Rastrigin",
  space: box(10, -5.12, 5.12),
  minimum: 0,
  value(c) {
    const x = vector(c, 10);
    return x.reduce((s, xi, i) => {
      const z = xi - (RASTRIGIN_SHIFT[i] as number);
      return s + z * z - 10 * Math.cos(2 * Math.PI * z) + 10;
    }, 0);
  },
};

const LEVY_SHIFT = shiftOf(102, 10, -10, 10);

/**
 * Levy, 10-D on [-10, 10], shifted so its minimum 0 is at x_opt (the textbook one is at x = 1): non-separable
 * neighbours coupling, many local minima on a broad bowl.
 */
export const levy: TestFunction = {
  name: "Levy",
  space: box(10, -10, 10),
  minimum: 0,
  value(c) {
    const w = vector(c, 10).map((xi, i) => 1 + (xi - (LEVY_SHIFT[i] as number)) / 4);
    const first = w[0] as number;
    const last = w[w.length - 1] as number;
    let sum = Math.sin(Math.PI * first) ** 2 + (last - 1) ** 2 * (1 + Math.sin(2 * Math.PI * last) ** 2);
    for (let i = 0; i < w.length - 1; i++) {
      const wi = w[i] as number;
      sum += (wi - 1) ** 2 * (1 + 10 * Math.sin(Math.PI * wi + 1) ** 2);
    }
    return sum;
  },
};

/**
 * Styblinski-Tang, 10-D on [-5, 5]: 0.5 sum (x^4 - 16 x^2 + 5 x); minimum -39.16616570377142 d at
 * x_i = -2.903534 (off-centre already). Separable, 2^d local minima, the best in one corner's basin.
 */
export const styblinskiTang: TestFunction = {
  name: "Styblinski-Tang",
  space: box(10, -5, 5),
  minimum: -39.16616570377142 * 10,
  value: (c) => 0.5 * vector(c, 10).reduce((s, x) => s + x ** 4 - 16 * x ** 2 + 5 * x, 0),
};

/**
 * Schwefel, 5-D on [-500, 500]: 418.9828872724338 d - sum x sin sqrt|x|; minimum 0 (to 1e-4) at x_i =
 * 420.9687, near the edge, with the second-best basin far away: deceptive.
 */
export const schwefel: TestFunction = {
  name: "Schwefel",
  space: box(5, -500, 500),
  minimum: 0,
  value: (c) => 418.9828872724338 * 5 - vector(c, 5).reduce((s, x) => s + x * Math.sin(Math.sqrt(Math.abs(x))), 0),
};

const GRIEWANK_SHIFT = shiftOf(103, 10, -600, 600);

/**
 * Griewank, 10-D on [-600, 600], shifted: 1 + sum z^2 / 4000 - prod cos(z_i / sqrt i), z = x - x_opt; minimum 0
 * at x_opt. A wide box where the global bowl dominates and the ripples matter only near the end.
 */
export const griewank: TestFunction = {
  name: "Griewank",
  space: box(10, -600, 600),
  minimum: 0,
  value(c) {
    const z = vector(c, 10).map((xi, i) => xi - (GRIEWANK_SHIFT[i] as number));
    const sum = z.reduce((s, zi) => s + (zi * zi) / 4000, 0);
    const prod = z.reduce((p, zi, i) => p * Math.cos(zi / Math.sqrt(i + 1)), 1);
    return 1 + sum - prod;
  },
};

const ELLIPSOID_SHIFT = shiftOf(104, 10, -5, 5);
const ELLIPSOID_ROTATION = rotationOf(204, 10);

/**
 * Rotated ellipsoid, 10-D on [-5, 5]: sum 10^(6 i / (d - 1)) y_i^2, y = R (x - x_opt) with a fixed orthogonal R;
 * minimum 0 at x_opt. Unimodal, condition number 1e6 and not axis-aligned: tests learning correlations
 * (CMA-ES's home ground; independent per-parameter samplers struggle).
 */
export const rotatedEllipsoid: TestFunction = {
  name: "RotatedEllipsoid",
  space: box(10, -5, 5),
  minimum: 0,
  value(c) {
    const y = rotate(
      ELLIPSOID_ROTATION,
      vector(c, 10).map((xi, i) => xi - (ELLIPSOID_SHIFT[i] as number)),
    );
    return y.reduce((s, yi, i) => s + 10 ** ((6 * i) / 9) * yi * yi, 0);
  },
};

const ROSENBROCK_SHIFT = shiftOf(105, 20, -5, 10);

/**
 * Rosenbrock, 20-D on [-5, 10], shifted so its minimum 0 is at x_opt (the textbook one is at x = 1): a curved
 * narrow valley in 20 dimensions, the high-dimensional case.
 */
export const rosenbrock20: TestFunction = {
  name: "Rosenbrock20",
  space: box(20, -5, 10),
  minimum: 0,
  value(c) {
    const z = vector(c, 20).map((xi, i) => xi - (ROSENBROCK_SHIFT[i] as number) + 1);
    let sum = 0;
    for (let i = 0; i < z.length - 1; i++) {
      const zi = z[i] as number;
      sum += 100 * ((z[i + 1] as number) - zi * zi) ** 2 + (1 - zi) ** 2;
    }
    return sum;
  },
};

/** Integer optimum in [-8, 8]^8 (inside the middle 80% of [-10, 10]). */
const INTEGER_SHIFT = shiftOf(106, 8, -10, 10).map(Math.round);
const INTEGER_ROTATION = rotationOf(206, 8);

/**
 * Integer problem: 8 int parameters in [-10, 10]; sum_i 10^(i / 7) y_i^2 + sum_i 2 (1 - cos(pi z_i / 2)),
 * z = x - x_opt, y = R z with a fixed rotation; both terms are >= 0 and 0 only at z = 0, so the minimum is 0 at
 * the integer point x_opt. Rotated (coupled) with a period-4 ripple: integer steps and no separable shortcut.
 */
export const integerQuadratic: TestFunction = {
  name: "IntegerQuadratic",
  space: Object.fromEntries(
    Array.from({ length: 8 }, (_, i) => [`x${i + 1}`, { type: "int" as const, min: -10, max: 10, step: 1, log: false }]),
  ),
  minimum: 0,
  value(c) {
    const z = vector(c, 8).map((xi, i) => xi - (INTEGER_SHIFT[i] as number));
    const y = rotate(INTEGER_ROTATION, z);
    const quadratic = y.reduce((s, yi, i) => s + 10 ** (i / 7) * yi * yi, 0);
    return quadratic + z.reduce((s, zi) => s + 2 * (1 - Math.cos((Math.PI * zi) / 2)), 0);
  },
};

const RETRIEVERS = ["bm25", "dense", "hybrid", "splade"] as const;
const RERANKERS = ["none", "cross_encoder_small", "cross_encoder_large"] as const;
const CHUNKING = ["fixed", "sentence", "semantic", "recursive", "paragraph"] as const;
/** Base loss of a retriever, and how much each reranker takes off it per retriever. */
const RETRIEVER_LOSS = [0.42, 0.36, 0.3, 0.33];
const RERANK_GAIN = [
  [0, 0.1, 0.15],
  [0, 0.06, 0.09],
  [0, 0.04, 0.07],
  [0, 0.05, 0.08],
];
/** Reranker cost (latency), and the chunking loss per retriever. */
const RERANK_COST = [0, 0.03, 0.09];
const CHUNK_LOSS = [
  [0.02, 0.0, 0.04, 0.01, 0.03],
  [0.05, 0.02, 0.0, 0.03, 0.06],
  [0.04, 0.01, 0.0, 0.02, 0.05],
  [0.03, 0.01, 0.02, 0.0, 0.04],
];
/** Best top_k per (retriever, reranker): a reranker wants a wider candidate pool (multiples of 5). */
const BEST_TOP_K = [
  [20, 50, 60],
  [15, 40, 55],
  [25, 45, 70],
  [20, 35, 50],
];
/** Best log10(score_threshold) per reranker; best log2(chunk_size) per chunking; best hybrid weight per retriever. */
const BEST_LOG_THRESHOLD = [-2.2, -3.1, -3.6];
const BEST_LOG_CHUNK = [9, 8, 10, 9, 10];
const BEST_HYBRID_WEIGHT = [0.15, 0.8, 0.55, 0.35];

/**
 * Retrieval-like mixed problem (minimization of a loss in about [0.1, 1.5]): three categoricals (retriever 4,
 * reranker 3, chunking 5 choices), a discrete chunk_size, an int top_k in [5, 100] step 5, a log-scaled float
 * score_threshold in [1e-4, 1e-1] and a plain float hybrid_weight in [0, 1]. The numbers' best values depend on
 * the choices (top_k on retriever and reranker, threshold on reranker, chunk_size on chunking, hybrid_weight on
 * retriever), and each numeric term is a quadratic that reaches 0 inside its domain, so the minimum is the best
 * categorical sum: exactly min over the 60 choice combinations (computed below). Why: the mixed, conditional
 * space of a RAG pipeline, where TPE-like samplers must learn which numbers go with which choices.
 */
export const retrievalMixed: TestFunction = {
  name: "retrieval_mixed",
  space: {
    retriever: { type: "categorical", values: [...RETRIEVERS] },
    reranker: { type: "categorical", values: [...RERANKERS] },
    chunking: { type: "categorical", values: [...CHUNKING] },
    chunk_size: { type: "discrete", values: [128, 256, 512, 1024, 2048] },
    top_k: { type: "int", min: 5, max: 100, step: 5, log: false },
    score_threshold: { type: "float", min: 1e-4, max: 1e-1, step: null, log: true },
    hybrid_weight: float(0, 1),
  },
  minimum: Math.min(...RETRIEVERS.flatMap((_, r) => RERANKERS.flatMap((_, k) => CHUNKING.map((_, h) => retrievalBase(r, k, h))))),
  value(c) {
    const r = RETRIEVERS.indexOf(c.retriever as (typeof RETRIEVERS)[number]);
    const k = RERANKERS.indexOf(c.reranker as (typeof RERANKERS)[number]);
    const h = CHUNKING.indexOf(c.chunking as (typeof CHUNKING)[number]);
    const topK = ((num(c, "top_k") - ((BEST_TOP_K[r] as number[])[k] as number)) / 30) ** 2;
    const threshold = (Math.log10(num(c, "score_threshold")) - (BEST_LOG_THRESHOLD[k] as number)) ** 2 / 4;
    const chunk = (Math.log2(num(c, "chunk_size")) - (BEST_LOG_CHUNK[h] as number)) ** 2 / 20;
    // hybrid_weight only matters to the hybrid retriever much; a little to the others.
    const hybrid = (r === 2 ? 0.6 : 0.1) * (num(c, "hybrid_weight") - (BEST_HYBRID_WEIGHT[r] as number)) ** 2;
    return retrievalBase(r, k, h) + 0.15 * topK + 0.2 * threshold + chunk + hybrid;
  },
};

/** retrieval_mixed's loss at the best numbers for the given choices. */
function retrievalBase(r: number, k: number, h: number): number {
  return (
    (RETRIEVER_LOSS[r] as number) -
    ((RERANK_GAIN[r] as number[])[k] as number) +
    (RERANK_COST[k] as number) +
    ((CHUNK_LOSS[r] as number[])[h] as number)
  );
}

/** Every problem the side-by-side table measures: the original three first. */
export const PROBLEMS: TestFunction[] = [
  branin,
  hartmann6,
  llmMixed,
  rastrigin,
  levy,
  styblinskiTang,
  schwefel,
  griewank,
  rotatedEllipsoid,
  rosenbrock20,
  integerQuadratic,
  retrievalMixed,
];
