/**
 * TypeScript port of the seed's `openai_responses.score_openai_response`, written in the SDK style
 * (prediction, expected, context) so it can use the measured latency and cost:
 *   quality = 0.6 completeness + 0.25 text quality + 0.15 length fit
 *   score   = 0.5 quality + 0.25 latency + 0.25 cost
 * It returns every sub-score by name; Convergence picks the one each metric asks for (response_quality,
 * token_efficiency), falling back to `score`.
 */
import type { EvaluatorContext, JsonValue, Prediction } from "convergence";

function record(value: JsonValue): Record<string, JsonValue> {
  return value && typeof value === "object" && !Array.isArray(value) ? value : {};
}

function completeness(text: string, expected: Record<string, JsonValue>): number {
  const wanted = Array.isArray(expected.contains) ? expected.contains.map(String) : [];
  if (wanted.length === 0) return 1;
  const lower = text.toLowerCase();
  return wanted.filter((word) => lower.includes(word.toLowerCase())).length / wanted.length;
}

function textQuality(text: string): number {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  if (words.length === 0) return 0;
  const varied = new Set(words).size / words.length;
  const finished = /[.!?]["')\]]?\s*$/.test(text.trim()) ? 1 : 0.5;
  return Math.min(1, 0.5 * finished + 0.5 * Math.min(1, varied * 1.5));
}

function lengthFit(text: string, expected: Record<string, JsonValue>): number {
  const min = typeof expected.min_length === "number" ? expected.min_length : 1;
  const max = typeof expected.max_length === "number" ? expected.max_length : Number.POSITIVE_INFINITY;
  if (text.length < min) return text.length / min;
  if (text.length > max) return max / text.length;
  return 1;
}

const clamp = (x: number) => Math.min(1, Math.max(0, x));

export function score_openai_response(prediction: Prediction, expected: JsonValue, _context: EvaluatorContext): Record<string, number> {
  const exp = record(expected);
  const text = prediction.text;
  const parts = {
    completeness: completeness(text, exp),
    quality: textQuality(text),
    length: lengthFit(text, exp),
    latency: clamp(1 - prediction.latency_ms / (typeof exp.max_latency_ms === "number" ? exp.max_latency_ms : 5000)),
    cost: clamp(1 - prediction.cost_usd / (typeof exp.max_cost_usd === "number" ? exp.max_cost_usd : 0.05)),
  };
  const responseQuality = 0.6 * parts.completeness + 0.25 * parts.quality + 0.15 * parts.length;
  const tokens = prediction.usage?.output_tokens ?? 0;
  const target = typeof exp.target_tokens === "number" ? exp.target_tokens : 300;
  const efficiency = tokens === 0 ? 0 : responseQuality * Math.min(1, target / tokens);
  return {
    ...parts,
    response_quality: responseQuality,
    token_efficiency: efficiency,
    score: 0.5 * responseQuality + 0.25 * parts.latency + 0.25 * parts.cost,
  };
}
