/**
 * The brief the society's proposer reads: what the run tried and how it scored, kept small (BRIEF_MAX_BYTES) so a
 * long run costs the same per call as a short one. The best and worst candidates with their scores, the best
 * one's weakest test cases with the start of its answers, the parameters and the metrics.
 */
import type { Config } from "../config/schema.js";
import type { JsonValue } from "../json.js";
import type { Study } from "../optimize/study.js";
import type { EvaluationRecord } from "../run/schema.js";
import type { ParamConfig, SearchSpace } from "../search/space.js";
import { redact } from "../target/secrets.js";

export const BRIEF_MAX_BYTES = 12 * 1024;
const TEXT_SHOWN = 600;
const EXCERPT_SHOWN = 300;

interface BriefCandidate {
  config: ParamConfig;
  score: number;
}

export interface Brief {
  generation: number;
  generations: number;
  /** How many candidates to propose. */
  wanted: number;
  parameters: Record<string, string>;
  metrics: { name: string; type: string; weight: number }[];
  best: BriefCandidate[];
  worst: BriefCandidate[];
  /** The best candidate's lowest-scored test cases, with the start of its answer. */
  weakest: { test_case_id: string; score: number; answer: string }[];
}

function describeParameter(param: SearchSpace[string]): string {
  switch (param.type) {
    case "categorical":
      return param.text
        ? `text: write new text, or one of ${param.values.length} tried (shown in the candidates)`
        : `one of ${JSON.stringify(param.values)}`;
    case "discrete":
      return `one of ${JSON.stringify(param.values)}`;
    case "int":
      return `integer from ${param.min} to ${param.max}${param.step !== 1 ? ` in steps of ${param.step}` : ""}`;
    case "float":
      return `number from ${param.min} to ${param.max}${param.step !== null ? ` in steps of ${param.step}` : ""}`;
  }
}

const shorten = (value: JsonValue, length: number): JsonValue =>
  typeof value === "string" && value.length > length ? `${value.slice(0, length)}…` : value;

function shown(config: ParamConfig): ParamConfig {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, shorten(v, TEXT_SHOWN)]));
}

/** The brief of a study at the start of a generation, from its finished candidates and the evaluations so far. */
export function buildBrief(study: Study, config: Config, evaluations: readonly EvaluationRecord[], wanted: number): Brief {
  const scored = study
    .candidates()
    .filter((c) => c.complete)
    .sort((a, b) => b.score - a.score);
  const best = scored.slice(0, 5).map((c) => ({ config: c.params, score: c.score }));
  const worst = scored.length > 5 ? scored.slice(-3).map((c) => ({ config: c.params, score: c.score })) : [];
  const top = scored[0];
  const weakest = top
    ? evaluations
        .filter((e) => e.candidate === top.candidate)
        .sort((a, b) => a.score - b.score)
        .slice(0, 3)
        .map((e) => ({ test_case_id: e.test_case_id, score: e.score, answer: e.response_excerpt.slice(0, EXCERPT_SHOWN) }))
    : [];
  return {
    generation: (study.control.current?.index ?? 0) + 1,
    generations: study.settings.generations,
    wanted,
    parameters: Object.fromEntries(Object.entries(study.control.space).map(([name, p]) => [name, describeParameter(p)])),
    metrics: Object.entries(config.evaluation.metrics).map(([name, m]) => ({ name, type: m.type ?? "custom", weight: m.weight })),
    best,
    worst,
    weakest,
  };
}

/**
 * The brief as the LLM reads it: JSON, its long texts shortened, at most BRIEF_MAX_BYTES (the worst candidates,
 * then the weakest cases, then the lower best ones make way), every form of every secret of the run removed.
 */
export function renderBrief(brief: Brief, secrets: readonly string[]): string {
  const parts = {
    ...brief,
    best: brief.best.map((c) => ({ ...c, config: shown(c.config) })),
    worst: brief.worst.map((c) => ({ ...c, config: shown(c.config) })),
  };
  const render = () => redact(JSON.stringify(parts, null, 1), secrets);
  let text = render();
  const bytes = (t: string) => new TextEncoder().encode(t).length;
  while (bytes(text) > BRIEF_MAX_BYTES && (parts.worst.length > 0 || parts.weakest.length > 0 || parts.best.length > 1)) {
    if (parts.worst.length > 0) parts.worst = parts.worst.slice(0, -1);
    else if (parts.weakest.length > 0) parts.weakest = parts.weakest.slice(0, -1);
    else parts.best = parts.best.slice(0, -1);
    text = render();
  }
  return bytes(text) > BRIEF_MAX_BYTES ? text.slice(0, BRIEF_MAX_BYTES / 2) : text;
}
