import type { CaseScores, TestCaseWeight } from "../racing.js";
import type { StudySettings } from "../settings.js";

/** How far a candidate of the generation in progress is to be scored, and whether it was stopped. */
export interface RaceEntry {
  /** How many test cases (in the generation's order) it is to be scored on. */
  target: number;
  dropped: boolean;
}

export interface PrunerContext {
  settings: StudySettings;
  testCases: readonly TestCaseWeight[];
  /** Candidates still in the race: neither stopped nor scored on every test case. */
  alive: readonly string[];
  entry(hash: string): RaceEntry;
  scores(hash: string): Readonly<CaseScores> | undefined;
  /** The best fully scored config so far (this generation included), or null. */
  incumbent: { hash: string; score: number } | null;
  /** Residuals of paired differences of finished races, pooled across generations. */
  residuals: { sumSq: number; dof: number };
}

/**
 * A strategy for stopping hopeless candidates early (Optuna's "pruner"). The study asks it how many test cases a
 * new candidate is first scored on and, once those are in, which candidates go on; it never proposes configs.
 */
export interface Pruner {
  readonly name: string;
  /** Test cases a new candidate is first scored on, of `testCases`. */
  firstBatch(testCases: number, settings: StudySettings): number;
  /** One decision over the race; true when some candidate is to be scored on more test cases. */
  step(context: PrunerContext): boolean;
}
