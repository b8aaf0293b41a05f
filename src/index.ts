/** The convergence package: the same core the Workers service runs, in-process. */

export { evolveArms, inferSearchSpace } from "./bandit/evolve.js";
export {
  evaluatePolicy,
  type LoggedDecision,
  type OfflineEvaluation,
  type OfflinePolicy,
  type OfflinePolicyInput,
  OfflinePolicySchema,
  type PolicyEvaluation,
} from "./bandit/offline.js";
export type { ConfigIssue } from "./config/issues.js";
export { parseConfigText } from "./config/parse.js";
export type { Config, ConfigInput, MetricConfig, TestCase } from "./config/schema.js";
export { ConfigSchema } from "./config/schema.js";
export { validateConfig } from "./config/validate.js";
export type { CaseResult } from "./evaluate/case.js";
export type { CoreEvaluator, Evaluator, EvaluatorContext, Prediction, SdkEvaluator } from "./evaluate/custom.js";
export { METRIC_NAMES, METRIC_TYPES } from "./evaluate/registry.js";
export { completeness, lengthFit, wellFormed } from "./evaluate/text-checks.js";
export type { JsonValue } from "./json.js";
export type { ApiKey, CreatedKey, CreateKeyRequest, KeyScope } from "./keys/schema.js";
export { MemoryStudyFacts, type StudyFacts } from "./optimize/facts.js";
export type { GenerationSummary } from "./optimize/schema.js";
export { studySettings } from "./optimize/settings.js";
export { type Evaluation, type EvaluationResult, Study, type StudyControl } from "./optimize/study.js";
export { prepareRun } from "./run/prepare.js";
export type { RunEvent, RunReport } from "./run/schema.js";
export {
  type PromoteRequest,
  type PromoteResult,
  type RunStatus,
  type RunSummary,
  type RunView,
  RunViewSchema,
} from "./run/schema.js";
export { RuntimeManager } from "./runtime/manager.js";
export { MemoryRuntimeStorage } from "./runtime/memory-storage.js";
export type {
  ArmSnapshot,
  ArmTemplate,
  ArmView,
  RuntimeConfig,
  RuntimeConfigInput,
  RuntimeDecision,
  RuntimeSelection,
  UpdateResult,
} from "./runtime/schema.js";
export { RuntimeConfigSchema } from "./runtime/schema.js";
export type { RuntimeStorage, StoredArm } from "./runtime/storage.js";
export {
  type ArmSelection,
  type ClientOptions,
  ConvergenceApiError,
  type ConvergenceClient,
  createClient,
  type Fallback,
  type FallbackSelection,
  type FetchFunction,
  type Listing,
  type PageOptions,
  type SelectFailure,
} from "./sdk/client.js";
export { runOnServer, type ServerOptions } from "./sdk/remote.js";
export {
  type OptimizationFailure,
  type OptimizationResult,
  type OptimizationSuccess,
  type RunOptimizationOptions,
  runOptimization,
} from "./sdk/run-optimization.js";
export {
  type ConfigureRuntimeOptions,
  configureRuntime,
  type RuntimeUpdateOptions,
  runtimeArms,
  runtimeEvolveArms,
  runtimeGetDecision,
  runtimeSelect,
  runtimeUpdate,
} from "./sdk/runtime.js";
export { hashConfig } from "./search/hash.js";
export type { ParamConfig, Parameter, SearchSpace } from "./search/space.js";
export { extractText, extractUsage } from "./target/extract.js";
export type { LocalFunction } from "./target/local.js";
export { mockOptimum, surfaceQuality } from "./target/mock.js";
export { VERSION } from "./version.js";
