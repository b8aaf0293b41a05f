/** The judge and the embedder a run's metrics use, built from evaluation.judge / embeddings and the metrics' own. */
import { type ConfigIssue, fromZodIssues } from "../config/issues.js";
import { type Config, JudgeSchema } from "../config/schema.js";
import { isPlainObject } from "../json.js";
import { createEmbedder } from "./embeddings.js";
import { createJudge, type Judge, type VerdictCache } from "./judge.js";
import type { EvaluationServices } from "./metrics/metric.js";
import { createProvider, type ProviderDeps, ProviderError } from "./providers.js";

export interface BuiltServices {
  services: EvaluationServices;
  /** Judges of metrics that override evaluation.judge, by metric name. */
  judges: Record<string, Judge>;
  errors: ConfigIssue[];
}

export function buildServices(evaluation: Config["evaluation"], deps: ProviderDeps): BuiltServices {
  const errors: ConfigIssue[] = [];
  const verdicts: VerdictCache = new Map();
  const attempt = <T>(path: string, make: () => T): T | null => {
    try {
      return make();
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      errors.push({ path, message: error.message });
      return null;
    }
  };
  const base = evaluation.judge;
  const judge = base
    ? attempt("evaluation.judge", () => createJudge(base, createProvider(base, deps, "evaluation.judge"), verdicts))
    : null;
  const judges: Record<string, Judge> = {};
  for (const [name, metric] of Object.entries(evaluation.metrics)) {
    const override = (metric as Record<string, unknown>).judge;
    if (override === undefined) continue;
    const path = `evaluation.metrics.${name}.judge`;
    const merged = JudgeSchema.safeParse({ ...(base ?? {}), ...(isPlainObject(override) ? override : {}) });
    if (!isPlainObject(override) || !merged.success) {
      errors.push(
        ...(merged.success ? [{ path, message: "must be a mapping of judge settings" }] : fromZodIssues(merged.error.issues, path)),
      );
      continue;
    }
    const made = attempt(path, () => createJudge(merged.data, createProvider(merged.data, deps, path), verdicts));
    if (made) judges[name] = made;
  }
  const embeddings = evaluation.embeddings;
  const embedder = embeddings
    ? attempt("evaluation.embeddings", () => createEmbedder(embeddings.model, createProvider(embeddings, deps, "evaluation.embeddings")))
    : null;
  return { services: { judge, embedder }, judges, errors };
}
