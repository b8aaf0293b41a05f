import { isPlainObject } from "../../json.js";
import { countFound, expectedAnswer, expectedList, expectedNumber } from "../expected.js";
import { tokenize } from "../lexical.js";
import { clamp01, type Metric } from "./metric.js";

/**
 * `type: llm_judge`. With a judge configured (evaluation.judge, or the metric's own `judge`), an LLM grades the
 * answer against a rubric built from the test case (src/evaluate/judge.ts). Against the mock target it reads the
 * mock's ground-truth quality instead: mock mode stays offline and deterministic. Without a judge, a
 * deterministic heuristic: the share of the rules `expected` states that the answer meets (contains, answer,
 * min_length / max_length in characters, format json); with no rules, some substance (up to 50 words) and a
 * full stop.
 */
export const judgeMetric: Metric = {
  id: "llm_judge",
  description: "an LLM judge's 0-10 score mapped to [0, 1]; offline: the mock's quality or expected's rules",
  async score({ response, testCase, services, spend, signal }) {
    const body = response.body;
    if (isPlainObject(body) && isPlainObject(body.mock) && typeof body.mock.quality === "number") {
      return clamp01(body.mock.quality);
    }
    if (!services.judge) return ruleScore(response.text, testCase.expected);
    const verdict = await services.judge(testCase, response.text, signal);
    spend(verdict.cost_usd);
    return verdict.score;
  },
};

function ruleScore(text: string, expected: Parameters<typeof expectedAnswer>[0]): number {
  const lower = text.toLowerCase();
  const parts: number[] = [];
  const contains = expectedList(expected, "contains");
  if (contains.length > 0) parts.push(countFound(text, contains) / contains.length);
  const answer = expectedAnswer(expected);
  if (answer !== null) parts.push(lower.includes(answer.toLowerCase()) ? 1 : 0);
  const min = expectedNumber(expected, "min_length");
  if (min !== null) parts.push(text.length >= min ? 1 : text.length / min);
  const max = expectedNumber(expected, "max_length");
  if (max !== null) parts.push(text.length <= max ? 1 : max / text.length);
  if (isPlainObject(expected) && expected.format === "json") {
    let valid = 0;
    try {
      JSON.parse(text);
      valid = 1;
    } catch {}
    parts.push(valid);
  }
  if (parts.length === 0) {
    const words = tokenize(text).length;
    return clamp01(0.8 * Math.min(1, words / 50) + (/[.!?]\s*$/.test(text.trim()) ? 0.2 : 0));
  }
  return clamp01(parts.reduce((a, b) => a + b, 0) / parts.length);
}
