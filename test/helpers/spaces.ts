import type { SearchSpace } from "../../src/search/space.js";

/** Every kind of parameter a sampler must handle: an object-valued choice, ordered numbers, a stepped int and
 * float, and a log scale. */
export const MIXED_SPACE: SearchSpace = {
  model: { type: "categorical", values: ["small", "medium", { name: "large", tier: 2 }] },
  max_tokens: { type: "discrete", values: [128, 256, 512, 1024] },
  k: { type: "int", min: 1, max: 9, step: 2, log: false },
  temperature: { type: "float", min: 0, max: 1.5, step: 0.05, log: false },
  learning_rate: { type: "float", min: 1e-5, max: 1e-1, step: null, log: true },
};
