import { expectedAnswer } from "../expected.js";
import { normalizeText, similarityRatio } from "../lexical.js";
import type { Metric } from "./metric.js";

/** exact_match: the answer text equals the expected answer, ignoring case, spacing and final punctuation. */
export const exactMatchMetric: Metric = {
  id: "exact_match",
  description: "1 when the answer equals expected.answer (or output/reference/text), case- and space-insensitive",
  score({ response, testCase }) {
    const expected = expectedAnswer(testCase.expected);
    if (expected === null) return null;
    return normalizeText(response.text) === normalizeText(expected) ? 1 : 0;
  },
};

/** similarity: Ratcliff/Obershelp ratio (difflib's SequenceMatcher) between the answer and the expected one. */
export const similarityMetric: Metric = {
  id: "similarity",
  description: "character-sequence similarity ratio with the expected answer",
  score({ response, testCase }) {
    const expected = expectedAnswer(testCase.expected);
    if (expected === null) return null;
    return similarityRatio(normalizeText(response.text), normalizeText(expected));
  },
};
