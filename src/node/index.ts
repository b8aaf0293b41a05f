/**
 * convergence/node: everything `convergence` exports, plus what needs Node: config files (`yamlPath`), test-case
 * files and evaluator modules read from disk (TypeScript ones through the optional peer tsx), and the local
 * service's key from .dev.vars. The CLI is built on it.
 */
export * from "../index.js";
export { createClient } from "./client.js";
export { loadEvaluator, nodePrepareOptions } from "./io.js";
export { type NodeRunOptimizationOptions, prepareFromOptions, runOptimization } from "./run-optimization.js";
