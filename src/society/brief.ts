/**
 * The brief the society's proposer reads: what the run tried and how it scored, kept small (BRIEF_MAX_BYTES) so a
 * long run costs the same per call as a short one. The best and worst candidates with their scores, the best
 * one's weakest test cases with the start of its answers, the parameters and the metrics.
 */
import type { Config } from "../config/schema.js";
import { type JsonValue, utf8Length } from "../json.js";
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
  /** The best candidate's lowest-scored test cases, with its answer (shortened when rendered). */
  weakest: { test_case_id: string; score: number; answer: string }[];
}

/** Values listed per parameter: a list of a thousand would crowd out the candidates. */
const VALUES_SHOWN = 20;

function oneOf(values: readonly JsonValue[]): string {
  const listed = JSON.stringify(values.slice(0, VALUES_SHOWN).map((v) => shorten(v, EXCERPT_SHOWN)));
  return values.length > VALUES_SHOWN ? `one of ${listed} and ${values.length - VALUES_SHOWN} more` : `one of ${listed}`;
}

function describeParameter(param: SearchSpace[string]): string {
  switch (param.type) {
    case "categorical":
      return param.text ? `text: write new text, or one of ${param.values.length} tried (shown in the candidates)` : oneOf(param.values);
    case "discrete":
      return oneOf(param.values);
    case "int":
      return `integer from ${param.min} to ${param.max}${param.step !== 1 ? ` in steps of ${param.step}` : ""}`;
    case "float":
      return `number from ${param.min} to ${param.max}${param.step !== null ? ` in steps of ${param.step}` : ""}`;
  }
}

function shorten(value: JsonValue, length: number): JsonValue {
  return typeof value === "string" && value.length > length ? `${value.slice(0, length)}…` : value;
}

/** A text as the model may read it: every form of every secret removed first, then shortened (a cut secret would leave its start). */
const shown = (value: JsonValue, length: number, secrets: readonly string[]): JsonValue =>
  shorten(typeof value === "string" ? redact(value, secrets) : value, length);

/** The brief of a study at the start of a generation, from its finished candidates and the best one's answers. */
export function buildBrief(
  study: Study,
  config: Config,
  answersOf: (candidate: string) => readonly EvaluationRecord[],
  wanted: number,
): Brief {
  const scored = study
    .candidates()
    .filter((c) => c.complete)
    .sort((a, b) => b.score - a.score);
  const best = scored.slice(0, 5).map((c) => ({ config: c.params, score: c.score }));
  const worst = scored.length > 5 ? scored.slice(-3).map((c) => ({ config: c.params, score: c.score })) : [];
  const top = scored[0];
  const weakest = top
    ? [...answersOf(top.candidate)]
        .sort((a, b) => a.score - b.score)
        .slice(0, 3)
        .map((e) => ({ test_case_id: e.test_case_id, score: e.score, answer: e.response_excerpt }))
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
 * then the weakest cases, then the lower best ones make way, then texts are shortened further), every form of every
 * secret of the run removed before anything is cut.
 */
export function renderBrief(brief: Brief, secrets: readonly string[]): string {
  const render = (text: number, excerpt: number) => {
    const config = (c: BriefCandidate) => ({
      ...c,
      config: Object.fromEntries(Object.entries(c.config).map(([k, v]) => [k, shown(v, text, secrets)])),
    });
    const parts = {
      ...brief,
      best: brief.best.map(config),
      worst: brief.worst.map(config),
      weakest: brief.weakest.map((w) => ({ ...w, answer: shown(w.answer, excerpt, secrets) })),
    };
    // Names (parameters, test case ids) are the run's own and may hold a secret too.
    return redact(JSON.stringify(parts, null, 1), secrets);
  };
  let text = render(TEXT_SHOWN, EXCERPT_SHOWN);
  const fits = () => utf8Length(text) <= BRIEF_MAX_BYTES;
  while (!fits() && (brief.worst.length > 0 || brief.weakest.length > 0 || brief.best.length > 1)) {
    if (brief.worst.length > 0) brief = { ...brief, worst: brief.worst.slice(0, -1) };
    else if (brief.weakest.length > 0) brief = { ...brief, weakest: brief.weakest.slice(0, -1) };
    else brief = { ...brief, best: brief.best.slice(0, -1) };
    text = render(TEXT_SHOWN, EXCERPT_SHOWN);
  }
  for (const length of [150, 40]) if (!fits()) text = render(length, length);
  if (fits()) return text;
  // Parameters beyond counting: cut at the bound, on a whole character.
  let cut = text.slice(0, BRIEF_MAX_BYTES);
  while (utf8Length(cut) > BRIEF_MAX_BYTES) cut = cut.slice(0, -64);
  return cut;
}
