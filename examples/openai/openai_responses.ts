/**
 * TypeScript port of the seed's `openai_responses.score_openai_response`, written in the SDK style
 * (prediction, expected, context) so it can use the measured latency and cost:
 *   quality = 0.6 completeness + 0.25 text quality + 0.15 length fit
 *   score   = 0.5 quality + 0.25 latency + 0.25 cost
 * It returns every sub-score by name; Convergence picks the one each metric asks for (response_quality,
 * token_efficiency), falling back to `score`.
 */
import { completeness, type EvaluatorContext, type JsonValue, lengthFit, type Prediction, wellFormed } from "convergence";

const clamp = (x: number) => Math.min(1, Math.max(0, x));

export function score_openai_response(prediction: Prediction, expected: JsonValue, _context: EvaluatorContext): Record<string, number> {
  const exp = expected && typeof expected === "object" && !Array.isArray(expected) ? expected : {};
  const text = prediction.text;
  const parts = {
    completeness: completeness(text, expected),
    quality: wellFormed(text),
    length: lengthFit(text, expected),
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
