/**
 * TypeScript port of the seed's `groq_responses.score_groq_response` (core style: result, expected, params,
 * metric). Score = 0.5 completeness (share of expected.contains found) + 0.3 text quality + 0.2 length fit.
 * Like the original it returns the same score whatever the metric.
 */
import { completeness, extractText, type JsonValue, lengthFit, wellFormed } from "convergence";

export function score_groq_response(result: JsonValue, expected: JsonValue, _params: Record<string, JsonValue>, _metric: string): number {
  const text = extractText(result);
  return 0.5 * completeness(text, expected) + 0.3 * wellFormed(text) + 0.2 * lengthFit(text, expected);
}
