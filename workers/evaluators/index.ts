/**
 * Evaluators bundled with this deployment, for optimization runs in the worker: a config's
 * `custom_evaluator: {module: "text_checks", function: "score_completeness"}` finds them here. Add your own
 * modules to the registry and redeploy; HTTP evaluators (`custom_evaluator: {url}`) need no redeploy.
 */

import type { Prediction } from "../../src/evaluate/custom.js";
import type { EvaluatorRegistry } from "../../src/evaluate/evaluator-registry.js";
import type { JsonValue } from "../../src/json.js";

/** Share of expected.contains present in the answer: an example of a bundled SDK-style evaluator. */
function scoreCompleteness(prediction: Prediction, expected: JsonValue): number {
  const wanted =
    expected && typeof expected === "object" && !Array.isArray(expected) && Array.isArray(expected.contains)
      ? expected.contains.map(String)
      : [];
  if (wanted.length === 0) return 1;
  const text = prediction.text.toLowerCase();
  return wanted.filter((w) => text.includes(w.toLowerCase())).length / wanted.length;
}

export const EVALUATORS: EvaluatorRegistry = {
  text_checks: { score_completeness: scoreCompleteness },
};
