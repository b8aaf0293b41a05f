/**
 * Checks the seed's example evaluators share (TypeScript ports, for examples/groq and examples/openai): how much
 * of `expected` an answer covers, how well it reads, and whether its length fits.
 */
import type { JsonValue } from "convergence";

export function asRecord(value: JsonValue): Record<string, JsonValue> {
  return value && typeof value === "object" && !Array.isArray(value) ? value : {};
}

/** Share of expected.contains found in the text, case-insensitive (1 when nothing is expected). */
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

/** 1 within expected.min_length..max_length (characters), proportionally less outside. */
export function lengthFit(text: string, expected: Record<string, JsonValue>): number {
  const min = typeof expected.min_length === "number" ? expected.min_length : 1;
  const max = typeof expected.max_length === "number" ? expected.max_length : Number.POSITIVE_INFINITY;
  if (text.length < min) return text.length / min;
  if (text.length > max) return max / text.length;
  return 1;
}
