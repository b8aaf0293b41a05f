import { expectedReference } from "../expected.js";
import { lexicalCosine } from "../lexical.js";
import type { Metric } from "./metric.js";

/**
 * `type: cosine_similarity`, lexical: TF-IDF cosine (IDF over the run's test cases) between the answer and
 * expected.reference / output / text / answer. Not applicable (null) when the case gives none.
 */
export const lexicalCosineMetric: Metric = {
  id: "cosine_similarity",
  description: "lexical TF-IDF cosine with expected.reference (or output, text, answer)",
  score({ response, testCase, corpus }) {
    const reference = expectedReference(testCase.expected);
    if (reference === null) return null;
    return lexicalCosine(response.text, reference, corpus);
  },
};
