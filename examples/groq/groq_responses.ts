/**
 * TypeScript port of the seed's `groq_responses.score_groq_response` (core style: result, expected, params,
 * metric). Score = 0.5 completeness (share of expected.contains found) + 0.3 text quality + 0.2 length fit.
 * Like the original it returns the same score whatever the metric.
 */
import { extractText, type JsonValue } from "convergence";

function record(value: JsonValue): Record<string, JsonValue> {
  return value && typeof value === "object" && !Array.isArray(value) ? value : {};
}

export function completeness(text: string, expected: Record<string, JsonValue>): number {
  const wanted = Array.isArray(expected.contains) ? expected.contains.map(String) : [];
  if (wanted.length === 0) return 1;
  const lower = text.toLowerCase();
  return wanted.filter((word) => lower.includes(word.toLowerCase())).length / wanted.length;
}

/** Complete sentences, varied wording, no empty answer. */
export function textQuality(text: string): number {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  if (words.length === 0) return 0;
  const varied = new Set(words).size / words.length;
  const finished = /[.!?]["')\]]?\s*$/.test(text.trim()) ? 1 : 0.5;
  return Math.min(1, 0.5 * finished + 0.5 * Math.min(1, varied * 1.5));
}

export function lengthFit(text: string, expected: Record<string, JsonValue>): number {
  const min = typeof expected.min_length === "number" ? expected.min_length : 1;
  const max = typeof expected.max_length === "number" ? expected.max_length : Number.POSITIVE_INFINITY;
  if (text.length < min) return text.length / min;
  if (text.length > max) return max / text.length;
  return 1;
}

export function score_groq_response(result: JsonValue, expected: JsonValue, _params: Record<string, JsonValue>, _metric: string): number {
  const text = extractText(result);
  const exp = record(expected);
  return 0.5 * completeness(text, exp) + 0.3 * textQuality(text) + 0.2 * lengthFit(text, exp);
}
