/**
 * `type: text_quality`, the reference's built-in text evaluator: length fit 0.15 (expected.min_words /
 * max_words), keywords 0.25 (expected.contains), readability 0.25 (grade level near 10, 12 or 14 for
 * expected.target_audience general, technical or academic), structure 0.20 (varied sentences, paragraphs),
 * clarity 0.15 (few passive and vague words, some numbers). Under 10 characters scores 0.
 */
import { isPlainObject } from "../../json.js";
import { countFound, expectedList, expectedNumber } from "../expected.js";
import { clamp01, type Metric } from "./metric.js";

const PASSIVE = new Set(["was", "were", "been", "being", "is", "are"]);
const VAGUE = new Set(["thing", "stuff", "something", "various", "many", "some"]);

function textQuality(text: string, expected: Parameters<typeof expectedList>[0]): number {
  if (text.trim().length < 10) return 0;
  const words = text.match(/[\p{L}\p{N}']+/gu) ?? [];
  const sentences = text.split(/[.!?]+\s/).filter((s) => s.trim().length > 0);
  const minWords = expectedNumber(expected, "min_words") ?? 1;
  const maxWords = expectedNumber(expected, "max_words") ?? Number.POSITIVE_INFINITY;
  const length = words.length < minWords ? words.length / minWords : words.length > maxWords ? maxWords / words.length : 1;
  const wanted = expectedList(expected, "contains");
  const keywords = wanted.length === 0 ? 1 : countFound(text, wanted) / wanted.length;
  const avgSentence = words.length / Math.max(1, sentences.length);
  const avgWord = words.reduce((a, w) => a + w.length, 0) / Math.max(1, words.length);
  const grade = 0.4 * avgSentence + 0.5 * avgWord - 2;
  const audience = isPlainObject(expected) ? expected.target_audience : undefined;
  const target = audience === "technical" ? 12 : audience === "academic" ? 14 : 10;
  const deviation = Math.abs(grade - target);
  const readability = deviation <= 2 ? 1 : deviation <= 4 ? 0.8 : deviation <= 6 ? 0.6 : 0.4;
  const lengths = sentences.map((s) => (s.match(/[\p{L}\p{N}']+/gu) ?? []).length);
  const mean = lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length);
  const sd = Math.sqrt(lengths.reduce((a, l) => a + (l - mean) ** 2, 0) / Math.max(1, lengths.length));
  const paragraphs = text.split(/\n\s*\n/).filter((p) => p.trim()).length;
  const structure = sentences.length < 2 ? 0.5 : 0.5 * Math.min(sd / 10, 1) + 0.5 * (paragraphs >= 2 ? 1 : 0.7);
  const lowerWords = words.map((w) => w.toLowerCase());
  const passive = lowerWords.filter((w) => PASSIVE.has(w)).length / Math.max(1, words.length);
  const vague = lowerWords.filter((w) => VAGUE.has(w)).length / Math.max(1, words.length);
  const numbers = (text.match(/\d+/g) ?? []).length;
  const clarity = 0.4 * Math.max(0, 1 - 3 * passive) + 0.3 * Math.max(0, 1 - 10 * vague) + 0.3 * Math.min(numbers / 5, 1);
  return clamp01(0.15 * length + 0.25 * keywords + 0.25 * readability + 0.2 * structure + 0.15 * clarity);
}

export const textQualityMetric: Metric = {
  id: "text_quality",
  description: "the reference's text quality: length, keywords, readability, structure, clarity",
  score: ({ response, testCase }) => textQuality(response.text, testCase.expected),
};
