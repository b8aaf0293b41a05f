import { vectorCosine } from "../embeddings.js";
import { expectedReference } from "../expected.js";
import { lexicalCosine } from "../lexical.js";
import type { Metric } from "./metric.js";

/**
 * `type: cosine_similarity` between the answer and expected.reference / output / text / answer (null when the
 * case gives none). With embeddings configured (evaluation.embeddings), the cosine of the two embeddings, negative
 * values counted as 0; without, a lexical TF-IDF cosine (IDF over the run's test cases).
 */
export const cosineMetric: Metric = {
  id: "cosine_similarity",
  description: "cosine of embeddings (lexical TF-IDF without a provider) with expected.reference",
  async score({ response, testCase, corpus, services, spend, signal }) {
    const reference = expectedReference(testCase.expected);
    if (reference === null) return null;
    if (!services.embedder) return lexicalCosine(response.text, reference, corpus);
    const { vectors, cost_usd } = await services.embedder([response.text, reference], signal);
    spend(cost_usd);
    return Math.max(0, vectorCosine(vectors[0] as number[], vectors[1] as number[]));
  },
};
