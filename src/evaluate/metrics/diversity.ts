import { extractItems, extractText } from "../../target/extract.js";
import { Corpus, cosine, distinctBigramRatio } from "../lexical.js";
import type { Metric } from "./metric.js";

/**
 * `type: diversity_score`. A list-shaped answer (retrieval results): 1 - mean pairwise TF-IDF cosine of the
 * items. A text answer: the distinct-bigram ratio. Null for a single item or fewer than three words.
 */
export const diversityMetric: Metric = {
  id: "diversity_score",
  description: "1 - mean pairwise similarity of list items; distinct-bigram ratio for text",
  score({ response, resultField }) {
    const items = extractItems(response.body, resultField);
    if (items) {
      if (items.length < 2) return null;
      const texts = items.map((item) => extractText(item));
      const corpus = new Corpus(texts);
      const vectors = texts.map((t) => corpus.vector(t));
      let sum = 0;
      let pairs = 0;
      for (let i = 0; i < vectors.length; i++) {
        for (let j = i + 1; j < vectors.length; j++) {
          sum += cosine(vectors[i] as Map<string, number>, vectors[j] as Map<string, number>);
          pairs++;
        }
      }
      return 1 - sum / pairs;
    }
    return distinctBigramRatio(response.text);
  },
};
