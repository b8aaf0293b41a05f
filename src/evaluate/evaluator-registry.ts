/**
 * Evaluators bundled with a deployment: where a worker cannot load files, `custom_evaluator: {module, function}`
 * names an entry of a registry compiled into the worker (workers/evaluators) instead of a file.
 */
import type { Evaluator } from "./custom.js";

/** module name → export name → the evaluator function (or class, for `custom_evaluator.class`). */
export type EvaluatorRegistry = Readonly<Record<string, Readonly<Record<string, Evaluator | (new () => unknown)>>>>;

/** A loadEvaluator for prepareRun that looks modules up in a registry. */
export function registryLoader(registry: EvaluatorRegistry) {
  return async (module: string, name: string): Promise<Evaluator | null> => {
    const exports = Object.hasOwn(registry, module) ? registry[module] : undefined;
    if (!exports) return null;
    const found = Object.hasOwn(exports, name) ? exports[name] : undefined;
    if (typeof found !== "function") {
      throw new Error(`the bundled module '${module}' has no '${name}' (it has: ${Object.keys(exports).join(", ") || "nothing"})`);
    }
    return found as Evaluator;
  };
}
