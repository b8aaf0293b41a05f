/**
 * Evaluators bundled with this deployment, for optimization runs in the worker: a config's
 * `custom_evaluator: {module: "text_checks", function: "score_completeness"}` finds them here. Add your own
 * modules to the registry and redeploy; HTTP evaluators (`custom_evaluator: {url}`) need no redeploy.
 */

import type { Prediction } from "../../src/evaluate/custom.js";
import type { EvaluatorRegistry } from "../../src/evaluate/evaluator-registry.js";
import { completeness } from "../../src/evaluate/text-checks.js";
import type { JsonValue } from "../../src/json.js";

/** Share of expected.contains present in the answer: an example of a bundled SDK-style evaluator. */
const scoreCompleteness = (prediction: Prediction, expected: JsonValue): number => completeness(prediction.text, expected);

export const EVALUATORS: EvaluatorRegistry = {
  text_checks: { score_completeness: scoreCompleteness },
};
