/**
 * What a study learns that grows with the run: every config proposed, every (config, test case) score, every
 * trial and every generation's summary. The study reads and appends them through this interface and keeps only
 * its bounded control state itself, so no step copies or re-serializes what the run has accumulated. In process
 * the facts are maps (MemoryStudyFacts); the RunCoordinator keeps them in SQLite tables, a row per fact.
 */
import type { ParamConfig } from "../search/space.js";
import { type CaseScores, setScore } from "./racing.js";
import type { Trial } from "./samplers/sampler.js";
import type { GenerationSummary } from "./schema.js";

export interface StudyFacts {
  config(hash: string): ParamConfig | undefined;
  addConfig(hash: string, config: ParamConfig): void;
  /** The scores of a config by test case id (read them with scoreOf: ids are the user's). */
  scores(hash: string): Readonly<CaseScores> | undefined;
  setScore(hash: string, testCaseId: string, score: number): void;
  /** Every trial in the order the study recorded them. Read-only: append with addTrial. */
  trials(): readonly Trial[];
  addTrial(trial: Trial): void;
  history(): readonly GenerationSummary[];
  addGeneration(summary: GenerationSummary): void;
}

export class MemoryStudyFacts implements StudyFacts {
  private readonly configs = new Map<string, ParamConfig>();
  private readonly scoresByHash = new Map<string, CaseScores>();
  private readonly trialList: Trial[] = [];
  private readonly generations: GenerationSummary[] = [];

  config(hash: string): ParamConfig | undefined {
    return this.configs.get(hash);
  }

  addConfig(hash: string, config: ParamConfig): void {
    if (!this.configs.has(hash)) this.configs.set(hash, config);
  }

  scores(hash: string): Readonly<CaseScores> | undefined {
    return this.scoresByHash.get(hash);
  }

  setScore(hash: string, testCaseId: string, score: number): void {
    let scores = this.scoresByHash.get(hash);
    if (!scores) {
      scores = {};
      this.scoresByHash.set(hash, scores);
    }
    setScore(scores, testCaseId, score);
  }

  trials(): readonly Trial[] {
    return this.trialList;
  }

  addTrial(trial: Trial): void {
    this.trialList.push(trial);
  }

  history(): readonly GenerationSummary[] {
    return this.generations;
  }

  addGeneration(summary: GenerationSummary): void {
    this.generations.push(summary);
  }
}
