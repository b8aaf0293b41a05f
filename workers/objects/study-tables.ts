/**
 * A run's study in the RunCoordinator's SQLite: the bounded control state in one row, and each fact that grows
 * with the run (config, score, trial, generation summary) in a row of its own, written once when it is new.
 * The facts are read into memory once per instance; new ones wait in `unsaved` until the coordinator saves
 * them in the same transaction as the control state, so the two never disagree after a crash.
 */
import { MemoryStudyFacts, type StudyFacts } from "../../src/optimize/facts.js";
import type { CaseScores } from "../../src/optimize/racing.js";
import type { Trial } from "../../src/optimize/samplers/sampler.js";
import type { GenerationSummary } from "../../src/optimize/schema.js";
import type { StudyControl } from "../../src/optimize/study.js";
import type { ParamConfig } from "../../src/search/space.js";

export const STUDY_TABLES = `
  CREATE TABLE study_control (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);
  CREATE TABLE study_configs (hash TEXT PRIMARY KEY, config TEXT NOT NULL);
  CREATE TABLE study_scores (hash TEXT NOT NULL, test_case_id TEXT NOT NULL, score REAL NOT NULL, PRIMARY KEY (hash, test_case_id));
  CREATE TABLE study_trials (seq INTEGER PRIMARY KEY, generation INTEGER NOT NULL, hash TEXT NOT NULL, fitness REAL NOT NULL,
    complete INTEGER NOT NULL, dropped INTEGER NOT NULL);
  CREATE TABLE study_history (generation INTEGER PRIMARY KEY, summary TEXT NOT NULL);`;

export class SqlStudyFacts implements StudyFacts {
  private readonly memory = new MemoryStudyFacts();
  private unsaved = {
    configs: [] as [string, ParamConfig][],
    scores: [] as [string, string, number][],
    trials: [] as Trial[],
    history: [] as GenerationSummary[],
  };

  constructor(private readonly sql: SqlStorage) {
    for (const row of sql.exec<{ hash: string; config: string }>("SELECT hash, config FROM study_configs")) {
      this.memory.addConfig(row.hash, JSON.parse(row.config) as ParamConfig);
    }
    for (const row of sql.exec<{ hash: string; test_case_id: string; score: number }>(
      "SELECT hash, test_case_id, score FROM study_scores",
    )) {
      this.memory.setScore(row.hash, row.test_case_id, row.score);
    }
    for (const row of sql.exec<{ generation: number; hash: string; fitness: number; complete: number; dropped: number }>(
      "SELECT generation, hash, fitness, complete, dropped FROM study_trials ORDER BY seq",
    )) {
      this.memory.addTrial({
        generation: row.generation,
        hash: row.hash,
        fitness: row.fitness,
        complete: row.complete === 1,
        dropped: row.dropped === 1,
      });
    }
    for (const row of sql.exec<{ summary: string }>("SELECT summary FROM study_history ORDER BY generation")) {
      this.memory.addGeneration(JSON.parse(row.summary) as GenerationSummary);
    }
  }

  config(hash: string): ParamConfig | undefined {
    return this.memory.config(hash);
  }

  addConfig(hash: string, config: ParamConfig): void {
    if (this.memory.config(hash) !== undefined) return;
    this.memory.addConfig(hash, config);
    this.unsaved.configs.push([hash, config]);
  }

  scores(hash: string): Readonly<CaseScores> | undefined {
    return this.memory.scores(hash);
  }

  setScore(hash: string, testCaseId: string, score: number): void {
    this.memory.setScore(hash, testCaseId, score);
    this.unsaved.scores.push([hash, testCaseId, score]);
  }

  trials(): readonly Trial[] {
    return this.memory.trials();
  }

  addTrial(trial: Trial): void {
    this.memory.addTrial(trial);
    this.unsaved.trials.push(trial);
  }

  history(): readonly GenerationSummary[] {
    return this.memory.history();
  }

  addGeneration(summary: GenerationSummary): void {
    this.memory.addGeneration(summary);
    this.unsaved.history.push(summary);
  }

  /** Write the facts learnt since the last save (call inside the transaction that saves the control state). */
  save(): void {
    const { configs, scores, trials, history } = this.unsaved;
    for (const [hash, config] of configs)
      this.sql.exec("INSERT OR IGNORE INTO study_configs (hash, config) VALUES (?, ?)", hash, JSON.stringify(config));
    for (const [hash, id, score] of scores) {
      this.sql.exec(
        "INSERT INTO study_scores (hash, test_case_id, score) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET score = excluded.score",
        hash,
        id,
        score,
      );
    }
    for (const t of trials) {
      this.sql.exec(
        "INSERT INTO study_trials (generation, hash, fitness, complete, dropped) VALUES (?, ?, ?, ?, ?)",
        t.generation,
        t.hash,
        t.fitness,
        t.complete ? 1 : 0,
        t.dropped ? 1 : 0,
      );
    }
    for (const h of history)
      this.sql.exec("INSERT OR REPLACE INTO study_history (generation, summary) VALUES (?, ?)", h.generation, JSON.stringify(h));
    this.unsaved = { configs: [], scores: [], trials: [], history: [] };
  }
}

export function readControl(sql: SqlStorage): StudyControl | null {
  const row = sql.exec<{ state: string }>("SELECT state FROM study_control WHERE id = 1").toArray()[0];
  return row ? (JSON.parse(row.state) as StudyControl) : null;
}

export function writeControl(sql: SqlStorage, json: string): void {
  sql.exec("INSERT INTO study_control (id, state) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state", json);
}

/** A study kept whole in one row by an earlier version: its rows written into the tables above, once. */
interface LegacyStudy
  extends Omit<StudyControl, "version" | "reported" | "callsSentAgain" | "candidates" | "callsPerCandidate" | "current" | "settings"> {
  version: 1;
  settings: Omit<StudyControl["settings"], "racing" | "parallelWorkers"> & {
    racing: StudyControl["settings"]["racing"] | null;
    proposalBatch: number | null;
  };
  current: (Omit<NonNullable<StudyControl["current"]>, "size"> & { size?: number }) | null;
  reported?: StudyControl["reported"];
  configs: Record<string, ParamConfig>;
  scores: Record<string, CaseScores>;
  trials: Trial[];
  history: GenerationSummary[];
}

export function upgradeLegacyStudy(sql: SqlStorage): void {
  const row = sql.exec<{ state: string }>("SELECT state FROM study WHERE id = 1").toArray()[0];
  if (!row || readControl(sql)) return;
  const old = JSON.parse(row.state) as LegacyStudy;
  const facts = new SqlStudyFacts(sql);
  for (const [hash, config] of Object.entries(old.configs)) facts.addConfig(hash, config);
  for (const [hash, scores] of Object.entries(old.scores))
    for (const [id, score] of Object.entries(scores)) facts.setScore(hash, id, score);
  for (const t of old.trials) facts.addTrial(t);
  for (const h of old.history) facts.addGeneration(h);
  facts.save();
  const { settings } = old;
  const control: StudyControl = {
    version: 2,
    settings: {
      algorithm: settings.algorithm,
      populationSize: settings.populationSize,
      generations: settings.generations,
      mutationRate: settings.mutationRate,
      crossoverRate: settings.crossoverRate,
      eliteSize: settings.eliteSize,
      racing: settings.racing ?? { initialTestCases: null, eliminationThreshold: 0.05 },
      // Before v2 the batch was stored resolved: null for the presets that propose a whole generation at once.
      parallelWorkers: settings.proposalBatch ?? settings.populationSize,
      earlyStopping: settings.earlyStopping,
      maxTargetCalls: settings.maxTargetCalls,
      initialConfigs: settings.initialConfigs,
    },
    space: old.space,
    testCases: old.testCases,
    rng: old.rng,
    sampler: old.sampler,
    status: old.status,
    stopReason: old.stopReason,
    generation: old.generation,
    current: old.current ? { ...old.current, size: old.current.size ?? settings.populationSize } : null,
    pending: old.pending,
    best: old.best,
    reported: old.reported ?? null,
    calls: old.calls,
    callsSentAgain: 0,
    candidates: old.history.reduce((n, h) => n + h.candidates, 0),
    callsPerCandidate: old.history.reduce((max, h) => Math.max(max, h.calls / Math.max(1, h.candidates)), 0),
    noImprovement: old.noImprovement,
    residuals: old.residuals,
  };
  writeControl(sql, JSON.stringify(control));
  sql.exec("DELETE FROM study");
}
