import { readFileSync } from "node:fs";
import { parse } from "yaml";

const NOISY_MOCK = new URL("../../examples/noisy_mock.yaml", import.meta.url);

/** The two configs of the seed document (shared/seed/SDK_USAGE.md), verbatim, and small builders. */

export const SEED_BASIC_USAGE = {
  api: {
    name: "my_api",
    endpoint: "https://api.example.com/v1/chat",
    request: { method: "POST", headers: { "Content-Type": "application/json" }, timeout_seconds: 30 },
    auth: { type: "bearer", token_env: "API_KEY" },
  },
  search_space: {
    parameters: {
      temperature: { type: "float", min: 0.1, max: 1.5 },
      max_tokens: { type: "int", min: 100, max: 2000 },
    },
  },
  evaluation: {
    test_cases: {
      inline: [{ id: "test_1", input: { prompt: "Write a short story" }, expected: { min_length: 100 } }],
    },
    metrics: {
      quality: { weight: 0.7, type: "llm_judge" },
      cost: { weight: 0.3, type: "cost_normalized" },
    },
  },
  optimization: { evolution: { generations: 5, population_size: 10 } },
};

export const SEED_MINIMAL = {
  api: { name: "my_api", endpoint: "https://api.example.com", mock_mode: true },
  search_space: { parameters: { param1: { type: "float", min: 0, max: 1 } } },
  evaluation: {
    test_cases: { inline: [{ id: "test_1", input: {} }] },
    metrics: { accuracy: { weight: 1.0 } },
  },
};

/** A small mock-mode config; pass overrides per section. */
export function mockConfig(
  overrides: { api?: object; parameters?: object; evaluation?: object; optimization?: object; testCases?: object[] } = {},
) {
  return {
    api: { name: "test_api", mock_mode: true, ...overrides.api },
    search_space: {
      parameters: overrides.parameters ?? {
        model: { type: "categorical", values: ["mock-small", "mock-medium", "mock-large"] },
        temperature: { type: "float", min: 0, max: 1.5, step: 0.1 },
        max_tokens: { type: "discrete", values: [128, 256, 512] },
      },
    },
    evaluation: {
      test_cases: {
        inline: overrides.testCases ?? [
          { id: "a", input: { prompt: "alpha" } },
          { id: "b", input: { prompt: "beta" } },
        ],
      },
      metrics: { quality: { type: "llm_judge", weight: 1 } },
      ...overrides.evaluation,
    },
    optimization: { seed: 1, evolution: { population_size: 6, generations: 4 }, ...overrides.optimization },
  };
}

/** examples/noisy_mock.yaml with another algorithm, seed or noise: the racing comparison's config. */
export function noisyConfig(algorithm: string, seed: number, noise?: number): Record<string, unknown> {
  const config = parse(readFileSync(NOISY_MOCK, "utf8")) as { api: Record<string, unknown>; optimization: Record<string, unknown> };
  config.optimization.algorithm = algorithm;
  config.optimization.seed = seed;
  if (noise !== undefined) config.api.mock_noise = noise;
  return config;
}
