import type { JsonValue } from "../../json.js";
import type { ParamConfig, SearchSpace } from "../../search/space.js";
import type { CaseScores, TestCaseWeight } from "../racing.js";
import type { Trial } from "../samplers/sampler.js";

export interface ChosenBest {
  hash: string;
  score: number;
  generation: number;
}

interface BestContext {
  space: SearchSpace;
  testCases: readonly TestCaseWeight[];
  trials: readonly Trial[];
  config(hash: string): ParamConfig;
  scores(hash: string): Readonly<CaseScores> | undefined;
  /** The weighted mean over all test cases of a fully scored config, else null. */
  fullScore(hash: string): number | null;
  /** The highest measured full score so far. */
  measured: ChosenBest | null;
  residuals: { sumSq: number; dof: number };
  generation: number;
  /** What the selector kept from the last generation (null at first): plain JSON, saved with the study. */
  state: JsonValue;
}

/** Which config a run reports as its best, chosen after each generation (Optuna's study.best_trial, made a strategy). */
export interface BestSelector {
  readonly name: string;
  choose(context: BestContext): { best: ChosenBest | null; state: JsonValue };
}
