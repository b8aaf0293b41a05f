/**
 * Mock mode (`api.mock_mode: true`): a deterministic stand-in for the team's API, with no network. It answers
 * in the OpenAI Chat Completions shape, and its content, token usage and latency depend on the parameters and
 * the test case input through a documented quality surface whose optimum is known.
 *
 * Quality surface. Every parameter p gets, from a hash of its name, an importance a_p in [0.5, 1.5) and a fit
 * f_p(value) in [0, 1]:
 *   - numbers (int, float, ordered discrete values): position u in [0, 1] along the parameter's scale (log scale
 *     if `log`, index for discrete values); an ideal position u*_p in [0.2, 0.8] from the hash;
 *     f_p = exp(-((u - u*_p) / 0.35)^2);
 *   - categorical: one value, chosen by the hash, has f_p = 1; every other value a fixed fit in [0.45, 0.85);
 *   - text: f_p = 0.25 + 0.75 × the share of MOCK_TEXT_INSTRUCTIONS the text holds (ignoring case), so the best
 *     prompt holds all of them, whichever seed values the config gives.
 * quality(params) = Σ a_p f_p / Σ a_p, which is 1 exactly at the ideal of every parameter (mockOptimum).
 * A test case has a difficulty d in [0, 0.2) from a hash of its input, and `api.mock_noise` adds a deterministic
 * deviation σ·z(params, test case):  quality_tc = clamp(quality · (1 - d) + σ z, 0, 1).
 *
 * The body carries `mock: {quality: quality_tc, surface_quality}`; the mock-mode llm_judge reads it, which makes
 * the judge an ideal one. Tokens: the prompt's length / 4 in, an answer length from the input's hash (60 to 360
 * tokens) out, cut at a max_tokens-like parameter. Latency: per-model base + per-token time, from the model's
 * hash. Cost: the pricing table (mock-small, mock-medium, mock-large are priced). `api.mock_latency_ms` makes
 * each call really wait that long, for benchmarks of concurrency.
 */
import type { ApiConfig, TestCase } from "../config/schema.js";
import type { JsonValue } from "../json.js";
import { canonicalJson, unitHash } from "../search/hash.js";
import { encodeParameter, type ParamConfig, type Parameter, type SearchSpace, snap } from "../search/space.js";
import { costOf, type ModelPrice } from "./pricing.js";
import { sleep } from "./sleep.js";
import type { Target, TargetResponse } from "./types.js";

const WIDTH = 0.35;

function ideal(name: string): number {
  return 0.2 + 0.6 * unitHash(`ideal:${name}`);
}

function importance(name: string): number {
  return 0.5 + unitHash(`importance:${name}`);
}

function bestIndex(name: string, count: number): number {
  return Math.min(count - 1, Math.floor(unitHash(`best:${name}`) * count));
}

/**
 * What the mock rewards in a text parameter (a system prompt, say): each of these instructions it holds. The mock
 * proposer (src/society/mock-proposer.ts) knows a longer list of instructions, these among them, and not which.
 */
export const MOCK_TEXT_INSTRUCTIONS = ["think step by step", "cite the source", "answer in one paragraph", "check the arithmetic"];

function textFit(value: JsonValue): number {
  const text = typeof value === "string" ? value.toLowerCase() : "";
  const held = MOCK_TEXT_INSTRUCTIONS.filter((instruction) => text.includes(instruction)).length;
  return 0.25 + (0.75 * held) / MOCK_TEXT_INSTRUCTIONS.length;
}

/** f_p: how well one value of one parameter fits the surface. */
function parameterFit(name: string, param: Parameter, value: JsonValue): number {
  if (param.type === "categorical" && param.text) return textFit(value);
  if (param.type === "categorical") {
    const index = param.values.findIndex((v) => canonicalJson(v) === canonicalJson(value));
    if (index === bestIndex(name, param.values.length)) return 1;
    return 0.45 + 0.4 * unitHash(`fit:${name}:${canonicalJson(value)}`);
  }
  const u = encodeParameter(param, value);
  return Math.exp(-(((u - ideal(name)) / WIDTH) ** 2));
}

export function surfaceQuality(space: SearchSpace, params: ParamConfig): number {
  let sum = 0;
  let total = 0;
  for (const [name, param] of Object.entries(space)) {
    const a = importance(name);
    sum += a * parameterFit(name, param, params[name] ?? null);
    total += a;
  }
  return total > 0 ? sum / total : 0;
}

/** The config with the highest surface quality, and that quality (1 unless a grid misses an ideal). */
export function mockOptimum(space: SearchSpace): { config: ParamConfig; quality: number } {
  const config: ParamConfig = {};
  for (const [name, param] of Object.entries(space)) {
    if (param.type === "categorical" && param.text) {
      config[name] = `${MOCK_TEXT_INSTRUCTIONS.join(". ")}.`;
    } else if (param.type === "categorical") {
      config[name] = param.values[bestIndex(name, param.values.length)] as JsonValue;
    } else if (param.type === "discrete") {
      const target = ideal(name) * (param.values.length - 1);
      config[name] = param.values[Math.round(target)] as number;
    } else {
      const u = ideal(name);
      const raw = param.log
        ? Math.exp(Math.log(param.min) + u * (Math.log(param.max) - Math.log(param.min)))
        : param.min + u * (param.max - param.min);
      // The fit is unimodal along the scale: the best grid point is one of the two around the ideal.
      const candidates = [snap(param, raw), snap(param, raw - (param.step ?? 0)), snap(param, raw + (param.step ?? 0))];
      config[name] = candidates.reduce((best, v) => (parameterFit(name, param, v) > parameterFit(name, param, best) ? v : best));
    }
  }
  return { config, quality: surfaceQuality(space, config) };
}

function difficulty(testCase: TestCase): number {
  return 0.2 * unitHash(`difficulty:${canonicalJson(testCase.input)}`);
}

/** A deterministic standard normal from a text (Box-Muller over two hashes). */
function hashNormal(text: string): number {
  const u = 1 - unitHash(`u:${text}`);
  const v = unitHash(`v:${text}`);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** quality_tc: the surface, lowered by the test case's difficulty, plus the configured noise. */
function testCaseQuality(space: SearchSpace, params: ParamConfig, testCase: TestCase, noise: number): number {
  const base = surfaceQuality(space, params) * (1 - difficulty(testCase));
  const deviation = noise > 0 ? noise * hashNormal(`${canonicalJson(params)}|${canonicalJson(testCase.input)}`) : 0;
  return Math.min(1, Math.max(0, base + deviation));
}

function promptText(input: Record<string, JsonValue>): string {
  const parts: string[] = [];
  const visit = (value: JsonValue) => {
    if (typeof value === "string") parts.push(value);
    else if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === "object") Object.values(value).forEach(visit);
  };
  visit(input);
  return parts.join(" ");
}

const MAX_TOKEN_PARAMS = ["max_tokens", "max_output_tokens", "max_completion_tokens", "max_new_tokens", "num_predict"];
const FILLER = "the answer considers the question carefully and explains each step with a clear example".split(" ");

function mockContent(model: string, prompt: string, quality: number, words: number): string {
  // A better answer echoes more of the question's key words, as a real answer would address more of it.
  const keywords = [...new Set(prompt.match(/[\p{L}\p{N}$]{3,}/gu) ?? [])];
  const echoed = keywords.slice(0, Math.round(quality * keywords.length));
  const out = [`Mock answer from ${model}.`, ...echoed];
  for (let i = 0; out.length < words; i++) out.push(FILLER[i % FILLER.length] as string);
  return `${out.join(" ")}.`;
}

export interface MockTargetOptions {
  api: ApiConfig;
  space: SearchSpace;
  prices?: Readonly<Record<string, ModelPrice>>;
}

export function mockResponse(
  space: SearchSpace,
  params: ParamConfig,
  testCase: TestCase,
  noise: number,
  prices?: Readonly<Record<string, ModelPrice>>,
): TargetResponse {
  const quality = testCaseQuality(space, params, testCase, noise);
  const model = typeof params.model === "string" ? params.model : "mock-medium";
  const prompt = promptText(testCase.input);
  const inputKey = canonicalJson(testCase.input);
  const natural = 60 + Math.round(300 * unitHash(`length:${inputKey}`));
  const cap = MAX_TOKEN_PARAMS.map((k) => params[k]).find((v): v is number => typeof v === "number");
  const completionTokens = Math.max(1, Math.min(natural, cap ?? natural));
  const promptTokens = Math.ceil(prompt.length / 4) + 8;
  const msPerToken = 4 + 16 * unitHash(`speed:${model}`);
  const latency = 120 + 200 * unitHash(`base:${model}`) + completionTokens * msPerToken;
  const usage = { input_tokens: promptTokens, output_tokens: completionTokens };
  const content = mockContent(model, prompt, quality, Math.round(completionTokens * 0.75));
  const body: JsonValue = {
    id: `mock-${unitHash(`${canonicalJson(params)}|${inputKey}`)
      .toString(36)
      .slice(2, 10)}`,
    object: "chat.completion",
    model,
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: completionTokens < natural ? "length" : "stop" }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    mock: { quality, surface_quality: surfaceQuality(space, params) },
  };
  return {
    ok: true,
    status: 200,
    body,
    text: content,
    latency_ms: Math.round(latency),
    usage,
    model,
    cost_usd: costOf(model, usage, prices),
    error: null,
    attempts: 1,
  };
}

export function mockTarget(options: MockTargetOptions): Target {
  const { api, space, prices } = options;
  return async (params, testCase, signal) => {
    if (api.mock_latency_ms > 0) await sleep(api.mock_latency_ms, signal);
    if (signal?.aborted) throw signal.reason;
    return mockResponse(space, params, testCase, api.mock_noise, prices);
  };
}
