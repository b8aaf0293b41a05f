/**
 * The study: an ask/tell state machine over (candidate, test case) evaluations with a seeded PRNG. `ask` says
 * which evaluations to run now; `tell` records their scores. Whoever runs the evaluations (the in-process
 * executor, or a Durable Object fed by queue consumers) holds nothing else: same seed, same run.
 *
 * Its state is in two parts. The control state (generation, race, RNG, sampler state, incumbent, counters) is
 * bounded by the config and is plain JSON; the facts that grow with the run (configs, per-case scores, trials,
 * generation summaries) live behind StudyFacts. Both are mutated in place: nothing copies the study.
 *
 * A generation: the sampler proposes `population_size` configs (or `parallel_workers` at a time, and more
 * configs when the pruner saved calls, as the algorithm's preset says); each is scored on the test cases the
 * pruner allows. A (config, test case) pair already scored is never asked again. When the generation is in, the
 * best fully scored config may become the new best, the best-selector picks the config to report, early stopping
 * is checked, and the next generation starts.
 */
import { MAX_TEXT_VALUE_BYTES, MAX_VALUES_PER_PARAMETER } from "../config/schema.js";
import { type JsonValue, utf8Length } from "../json.js";
import { hashConfig } from "../search/hash.js";
import { Rng, type RngState, seedRng } from "../search/rng.js";
import { conformValue, type ParamConfig, type SearchSpace } from "../search/space.js";
import { ALGORITHMS, type AlgorithmPreset } from "./algorithms.js";
import type { ChosenBest } from "./best/selector.js";
import { MemoryStudyFacts, type StudyFacts } from "./facts.js";
import type { RaceEntry } from "./pruners/pruner.js";
import { type CaseScores, caseVariance, effectiveObservations, pairedEstimate, scoreOf, type TestCaseWeight } from "./racing.js";
import { runSteps, type Trial } from "./samplers/sampler.js";
import type { Candidate, StopReason } from "./schema.js";
import type { StudySettings } from "./settings.js";
import { weightedMean } from "./stats.js";

interface GenerationState {
  index: number;
  /** Member hashes in proposal order (duplicates possible: they share one evaluation). */
  members: string[];
  /** Test case ids in the order the race reveals them. */
  order: string[];
  /** Per member, how far the pruner lets it go; null when every member is scored on every test case. */
  race: Record<string, RaceEntry> | null;
  callsAtStart: number;
  /** Candidates the generation will have; the sampler proposes them all at once or `parallelWorkers` at a time. */
  size: number;
}

/** The bounded part of a study: plain JSON, saved whole after each step. */
export interface StudyControl {
  version: 2;
  settings: StudySettings;
  space: SearchSpace;
  testCases: TestCaseWeight[];
  rng: RngState;
  sampler: JsonValue;
  status: "running" | "done";
  stopReason: StopReason | null;
  /** Index of the generation in progress or last finished; -1 before the first. */
  generation: number;
  current: GenerationState | null;
  /** "hash|testCaseId" of evaluations asked and not yet told. */
  pending: Record<string, true>;
  /** The best measured full score: the incumbent the pruner compares candidates with. */
  best: ChosenBest | null;
  /** The config reported as best, as the algorithm's best-selector chose it. */
  reported: ChosenBest | null;
  /** The best-selector's state between generations (absent in a control saved before it had one). */
  selector?: JsonValue;
  /** Candidates proposed from outside the sampler (the society), proposed first by the next generations. */
  suggested?: ParamConfig[];
  /** What became of them (absent when nothing was ever suggested). */
  suggestions?: SuggestionCounts;
  /**
   * Target calls asked for, plus calls sent again (a crash lost their report): what the call budget counts. Once
   * the study is done, the calls the run made (see finish).
   */
  calls: number;
  /** Of `calls`, those sent again. */
  callsSentAgain: number;
  /** Candidates proposed in finished generations (for sizing the next). */
  candidates: number;
  /** The most target calls one candidate of a finished generation cost on average (for sizing the next). */
  callsPerCandidate: number;
  noImprovement: number;
  /** Residuals of paired differences from finished races, pooled across generations. */
  residuals: { sumSq: number; dof: number };
}

/** Of the candidates a proposer suggested: how many were valid, dropped, already tried, and which were tried. */
export interface SuggestionCounts {
  proposed: number;
  valid: number;
  invalid: number;
  duplicates: number;
  /** Each suggested candidate proposed so far, and the incumbent's score when it was suggested. */
  tried: { hash: string; incumbent: number | null }[];
  /** UTF-8 bytes of the text values suggestions added to the space (absent: none yet, or a study from before). */
  text_bytes?: number;
}

/**
 * The most text suggestions may add to the space: it lives in the control state, one row, which the start guard
 * bounds before the run (src/run/bounds.ts). A candidate whose new text would pass it is dropped as invalid.
 */
export const SUGGESTED_TEXT_BUDGET_BYTES = 512 * 1024;

export interface Evaluation {
  hash: string;
  config: ParamConfig;
  testCaseId: string;
  generation: number;
}

export interface EvaluationResult {
  hash: string;
  testCaseId: string;
  score: number;
}

const keyOf = (hash: string, testCaseId: string) => `${hash}|${testCaseId}`;

export class Study {
  readonly preset: AlgorithmPreset;

  constructor(
    readonly control: StudyControl,
    readonly facts: StudyFacts = new MemoryStudyFacts(),
  ) {
    this.preset = ALGORITHMS[control.settings.algorithm];
  }

  static create(
    options: { settings: StudySettings; space: SearchSpace; testCases: readonly TestCaseWeight[]; seed: number },
    facts: StudyFacts = new MemoryStudyFacts(),
  ): Study {
    if (options.testCases.length === 0) throw new Error("a study needs at least one test case");
    return new Study(
      {
        version: 2,
        settings: options.settings,
        space: options.space,
        testCases: options.testCases.map(({ id, weight }) => ({ id, weight })),
        rng: seedRng(options.seed),
        sampler: null,
        status: "running",
        stopReason: null,
        generation: -1,
        current: null,
        pending: {},
        best: null,
        reported: null,
        selector: null,
        calls: 0,
        callsSentAgain: 0,
        candidates: 0,
        callsPerCandidate: 0,
        noImprovement: 0,
        residuals: { sumSq: 0, dof: 0 },
      },
      facts,
    );
  }

  get settings(): StudySettings {
    return this.control.settings;
  }

  get done(): boolean {
    return this.control.status === "done";
  }

  get pendingCount(): number {
    return Object.keys(this.control.pending).length;
  }

  /** The evaluations to run now: empty while earlier ones are pending, or once the study is done. */
  ask(): Evaluation[] {
    return runSteps(this.askSteps());
  }

  /**
   * ask, pausing after each candidate proposed: a caller that shares its thread (the run's Durable Object) can
   * let other requests in between. Run to the end, it asks exactly what ask does.
   */
  *askSteps(): Generator<void, Evaluation[], void> {
    if (this.done || this.pendingCount > 0) return [];
    return yield* this.advance();
  }

  /**
   * Record scores. Only evaluations that were asked and are still pending count: a repeated or unknown report
   * changes nothing, so redelivered queue messages are harmless. Non-finite scores are recorded as 0.
   */
  tell(results: readonly EvaluationResult[]): void {
    const pending = this.control.pending;
    for (const { hash, testCaseId, score } of results) {
      const key = keyOf(hash, testCaseId);
      if (!pending[key]) continue;
      delete pending[key];
      this.facts.setScore(hash, testCaseId, Number.isFinite(score) ? score : 0);
    }
  }

  /**
   * Calls sent again after their first send was lost (a crash): they count against the call budget too. `total`:
   * how many the run has sent again so far (telling the same total twice counts it once).
   */
  countCallsSentAgain(total: number): void {
    const extra = total - this.control.callsSentAgain;
    if (extra <= 0) return;
    this.control.calls += extra;
    this.control.callsSentAgain = total;
  }

  /**
   * End the study: the evaluations still pending are given up, and their pairs count as never asked. `callsMade`:
   * the target calls the run made in all, which the host counts (by default, those asked and not pending). The
   * study counted calls when it asked for them; a given-up evaluation may never have gone out, or gone out with its
   * report dropped, so the last generation's calls are the host's count, and the history adds up to the run's.
   */
  finish(reason: StopReason, callsMade = this.control.calls - this.pendingCount): void {
    this.control.calls = callsMade;
    this.control.pending = {};
    if (this.control.current) this.finalizeGeneration();
    this.control.status = "done";
    this.control.stopReason = reason;
  }

  /** The best config and its full score, or null when no config was fully scored. */
  best(): { config: ParamConfig; score: number; hash: string } | null {
    const best = this.control.reported ?? this.control.best;
    if (!best) return null;
    return { config: this.facts.config(best.hash) as ParamConfig, score: best.score, hash: best.hash };
  }

  /** Every candidate the study has scored, with its params and fitness (an estimate when raced out). */
  candidates(): Candidate[] {
    return this.facts.trials().map((t) => ({
      generation: t.generation,
      candidate: t.hash,
      params: this.facts.config(t.hash) as ParamConfig,
      score: t.fitness,
      complete: t.complete,
      dropped: t.dropped,
    }));
  }

  /** The calls a run may make: every candidate of every generation on every test case, or max_target_calls. */
  callBudget(): number {
    const { populationSize, generations, maxTargetCalls } = this.settings;
    return Math.min(populationSize * generations * this.control.testCases.length, maxTargetCalls ?? Number.POSITIVE_INFINITY);
  }

  private isComplete(hash: string): boolean {
    const scores = this.facts.scores(hash);
    return scores !== undefined && this.control.testCases.every((t) => scoreOf(scores, t.id) !== undefined);
  }

  /** The weighted mean over all test cases of a fully scored config. */
  fullScore(hash: string): number | null {
    if (!this.isComplete(hash)) return null;
    const scores = this.facts.scores(hash) as CaseScores;
    const cases = this.control.testCases;
    return weightedMean(
      cases.map((t) => scoreOf(scores, t.id) as number),
      cases.map((t) => t.weight),
    );
  }

  private partialMean(hash: string): number {
    const scores = this.facts.scores(hash);
    const seen = this.control.testCases.filter((t) => scoreOf(scores, t.id) !== undefined);
    return weightedMean(
      seen.map((t) => scoreOf(scores, t.id) as number),
      seen.map((t) => t.weight),
    );
  }

  /** The best fully scored config so far, this generation included. */
  private incumbent(): { hash: string; score: number } | null {
    const c = this.control;
    let best = c.best ? { hash: c.best.hash, score: c.best.score } : null;
    for (const hash of c.current ? uniqueMembers(c.current) : []) {
      const score = this.fullScore(hash);
      if (score !== null && (best === null || score > best.score)) best = { hash, score };
    }
    return best;
  }

  private stop(reason: StopReason): void {
    this.control.status = "done";
    this.control.stopReason = reason;
  }

  private *advance(): Generator<void, Evaluation[], void> {
    const c = this.control;
    for (;;) {
      if (c.status === "done") return [];
      if (!c.current) {
        if (c.generation + 1 >= c.settings.generations) {
          this.stop("generations");
          return [];
        }
        yield* this.startGeneration();
      }
      const g = c.current as GenerationState;
      let needed = this.neededEvaluations(g);
      if (needed.length > 0) {
        const cap = this.preset.reinvestSavings ? this.callBudget() : c.settings.maxTargetCalls;
        if (cap !== null) {
          const remaining = cap - c.calls;
          if (remaining <= 0) {
            this.finalizeGeneration();
            this.stop("max_target_calls");
            return [];
          }
          needed = needed.slice(0, remaining);
        }
        for (const e of needed) c.pending[keyOf(e.hash, e.testCaseId)] = true;
        c.calls += needed.length;
        return needed;
      }
      if (this.raceStep(g)) continue;
      if (g.members.length < g.size) {
        yield* this.proposeMembers(g);
        continue;
      }
      this.finalizeGeneration();
      this.checkStopping();
    }
  }

  /**
   * Candidates in the next generation. A pruner ends most candidates after a few test cases; with
   * `reinvestSavings` the calls it saves buy more candidates, sized from what a candidate has cost so far so that
   * the remaining generations share what is left of the budget (at least the population, at most four times it).
   */
  private generationSize(index: number): number {
    const c = this.control;
    const base = c.settings.populationSize;
    if (!this.preset.reinvestSavings || c.candidates === 0 || c.calls === 0) return base;
    const remainingGenerations = Math.max(1, c.settings.generations - index);
    const affordable = Math.floor((this.callBudget() - c.calls) / remainingGenerations / c.callsPerCandidate);
    return Math.min(4 * base, Math.max(base, affordable));
  }

  private firstBatch(): number {
    return Math.min(this.control.testCases.length, this.preset.pruner.firstBatch(this.control.testCases.length, this.settings));
  }

  private *startGeneration(): Generator<void, void, void> {
    const c = this.control;
    const index = c.generation + 1;
    c.generation = index;
    c.current = {
      index,
      members: [],
      order: [],
      race: this.firstBatch() < c.testCases.length ? {} : null,
      callsAtStart: c.calls,
      size: this.generationSize(index),
    };
    yield* this.proposeMembers(c.current);
  }

  /**
   * The sampler proposes the generation's next candidates: all of them at once, or `parallelWorkers` at a time once
   * the earlier ones are settled, so each proposal learns from every evaluation finished so far.
   */
  private *proposeMembers(g: GenerationState): Generator<void, void, void> {
    const c = this.control;
    const atOnce = this.preset.proposal === "workers" ? c.settings.parallelWorkers : g.size;
    const count = Math.min(g.size - g.members.length, atOnce);
    const rng = new Rng(c.rng);
    const batch = this.firstBatch();
    const addMember = (config: ParamConfig) => {
      const hash = hashConfig(config);
      this.facts.addConfig(hash, config);
      g.members.push(hash);
      if (g.race && !Object.hasOwn(g.race, hash)) g.race[hash] = { target: batch, dropped: false };
    };
    // Warm-start configs go first, whichever sampler runs: the first generation proposes each one not proposed
    // yet before it asks the sampler for the rest. Then what a proposer suggested, in any generation.
    const warm = new Map<string, ParamConfig>();
    if (g.index === 0) {
      for (const config of c.settings.initialConfigs) {
        const hash = hashConfig(config);
        if (warm.size < count && this.facts.config(hash) === undefined) warm.set(hash, config);
      }
    }
    while (warm.size < count && c.suggested && c.suggested.length > 0) {
      const config = c.suggested.shift() as ParamConfig;
      const hash = hashConfig(config);
      if (this.facts.config(hash) !== undefined || warm.has(hash)) continue;
      warm.set(hash, config);
      c.suggestions?.tried.push({ hash, incumbent: c.best?.score ?? null });
    }
    for (const config of warm.values()) addMember(config);
    let proposed = warm.size;
    if (count > warm.size) {
      const finished = this.facts.trials();
      const proposal = yield* this.preset.sampler.propose(
        {
          space: c.space,
          settings: c.settings,
          generation: g.index,
          size: count - warm.size,
          progress: Math.min(1, c.calls / Math.max(1, this.callBudget())),
          trials: g.members.length > warm.size ? [...finished, ...this.generationTrials(g)] : finished,
          configOf: (hash) => this.facts.config(hash) as ParamConfig,
          fitnessNoise: (hash) => {
            const variance = caseVariance(c.residuals);
            return variance > 0 ? variance / Math.max(1, effectiveObservations(this.facts.scores(hash), c.testCases)) : 0;
          },
          isKnown: (config) => this.facts.config(hashConfig(config)) !== undefined,
          rng,
        },
        c.sampler,
      );
      c.sampler = proposal.state;
      for (const config of proposal.configs) addMember(config);
      proposed += proposal.configs.length;
    }
    // A config proposed nowhere new (a tiny space, all tried) must not stall the generation.
    if (proposed === 0) g.size = g.members.length;
    if (g.order.length === 0) g.order = rng.shuffle(c.testCases.map((t) => t.id));
    c.rng = rng.state;
  }

  /**
   * Candidates proposed from outside the sampler (the society's proposer). Each is conformed to the search space:
   * a parameter it leaves out takes `base`'s value; a new string for a text parameter becomes one of its values;
   * anything else out of the space drops the candidate. The valid ones, not tried before, are proposed first by
   * the generations to come.
   */
  suggest(configs: readonly unknown[], base: ParamConfig | null): SuggestionCounts {
    const c = this.control;
    c.suggestions ??= { proposed: 0, valid: 0, invalid: 0, duplicates: 0, tried: [] };
    c.suggested ??= [];
    const counts = c.suggestions;
    const queued = new Set(c.suggested.map(hashConfig));
    for (const raw of configs) {
      counts.proposed += 1;
      const config = conformConfig(c.space, raw, base);
      if (!config) {
        counts.invalid += 1;
        continue;
      }
      const hash = hashConfig(config);
      if (this.facts.config(hash) !== undefined || queued.has(hash)) {
        counts.duplicates += 1;
        continue;
      }
      const added = Object.entries(c.space).flatMap(([name, param]) =>
        param.type === "categorical" && param.text && !param.values.includes(config[name] as JsonValue)
          ? [{ values: param.values, value: config[name] as JsonValue }]
          : [],
      );
      const bytes = added.reduce((n, a) => n + utf8Length(a.value as string), 0);
      if ((counts.text_bytes ?? 0) + bytes > SUGGESTED_TEXT_BUDGET_BYTES) {
        counts.invalid += 1;
        continue;
      }
      // conformConfig refused a value its parameter's full list could not take: every one added here fits.
      for (const { values, value } of added) values.push(value);
      counts.text_bytes = (counts.text_bytes ?? 0) + bytes;
      queued.add(hash);
      counts.valid += 1;
      c.suggested.push(config);
    }
    return counts;
  }

  private neededEvaluations(g: GenerationState): Evaluation[] {
    const out: Evaluation[] = [];
    for (const hash of uniqueMembers(g)) {
      const entry = g.race?.[hash];
      if (entry?.dropped) continue;
      const wanted = entry ? g.order.slice(0, entry.target) : g.order;
      const scores = this.facts.scores(hash);
      for (const testCaseId of wanted) {
        if (scoreOf(scores, testCaseId) === undefined) {
          out.push({ hash, config: this.facts.config(hash) as ParamConfig, testCaseId, generation: g.index });
        }
      }
    }
    return out;
  }

  /** One pruner decision. Returns true when some candidate needs more test cases. */
  private raceStep(g: GenerationState): boolean {
    const race = g.race;
    if (!race) return false;
    return this.preset.pruner.step({
      settings: this.settings,
      testCases: this.control.testCases,
      alive: uniqueMembers(g).filter((h) => !race[h]?.dropped && !this.isComplete(h)),
      entry: (hash) => race[hash] as RaceEntry,
      scores: (hash) => this.facts.scores(hash),
      incumbent: this.incumbent(),
      residuals: this.control.residuals,
    });
  }

  /**
   * Each member's fitness: its full score, or an estimate of it from paired differences with the incumbent.
   * `residuals`, when given, collects those differences' residuals for the pooled variance.
   */
  private memberFitness(g: GenerationState, residuals?: StudyControl["residuals"]): Map<string, { fitness: number; complete: boolean }> {
    const inc = this.incumbent();
    const incScores = inc ? this.facts.scores(inc.hash) : undefined;
    const fitnessOf = new Map<string, { fitness: number; complete: boolean }>();
    for (const hash of uniqueMembers(g)) {
      const full = this.fullScore(hash);
      if (full !== null) {
        fitnessOf.set(hash, { fitness: full, complete: true });
        continue;
      }
      const estimate = incScores && inc ? pairedEstimate(this.facts.scores(hash) ?? {}, incScores, this.control.testCases) : null;
      if (estimate && residuals) {
        residuals.sumSq += estimate.sumSq;
        residuals.dof += estimate.dof;
      }
      const fitness = estimate && inc ? inc.score + estimate.meanDiff : this.partialMean(hash);
      fitnessOf.set(hash, { fitness, complete: false });
    }
    return fitnessOf;
  }

  /**
   * The generation's members as trials, in proposal order. A member never scored (the budget ran out first) is
   * no trial: it has no fitness to tell.
   */
  private generationTrials(g: GenerationState, residuals?: StudyControl["residuals"]): Trial[] {
    const fitnessOf = this.memberFitness(g, residuals);
    const cases = this.control.testCases;
    const scored = (hash: string) => {
      const scores = this.facts.scores(hash);
      return cases.some((t) => scoreOf(scores, t.id) !== undefined);
    };
    return g.members.filter(scored).map((hash) => {
      const f = fitnessOf.get(hash) as { fitness: number; complete: boolean };
      return { generation: g.index, hash, fitness: f.fitness, complete: f.complete, dropped: g.race?.[hash]?.dropped ?? false };
    });
  }

  private finalizeGeneration(): void {
    const c = this.control;
    const g = c.current;
    if (!g) return;
    const trials = this.generationTrials(g, c.residuals);
    let generationBest: { hash: string; score: number } | null = null;
    for (const t of trials) {
      this.facts.addTrial(t);
      if (t.complete && (generationBest === null || t.fitness > generationBest.score)) generationBest = { hash: t.hash, score: t.fitness };
    }
    const previous = c.best?.score ?? null;
    if (generationBest && (c.best === null || generationBest.score > c.best.score)) {
      c.best = { hash: generationBest.hash, score: generationBest.score, generation: g.index };
    }
    const choice = this.preset.best.choose({
      space: c.space,
      testCases: c.testCases,
      trials: this.facts.trials(),
      config: (hash) => this.facts.config(hash) as ParamConfig,
      scores: (hash) => this.facts.scores(hash),
      fullScore: (hash) => this.fullScore(hash),
      measured: c.best,
      residuals: c.residuals,
      generation: c.generation,
      state: c.selector ?? null,
    });
    c.reported = choice.best;
    c.selector = choice.state;
    const gain = c.best !== null && previous !== null ? c.best.score - previous : null;
    const improved =
      c.best !== null &&
      (previous === null ||
        ((gain as number) > 0 && (gain as number) >= c.settings.earlyStopping.minImprovement * Math.max(Math.abs(previous), 1e-9)));
    c.noImprovement = improved ? 0 : c.noImprovement + 1;
    const fitnesses = trials.map((t) => t.fitness);
    const uniques = uniqueMembers(g);
    const complete = new Set(trials.filter((t) => t.complete).map((t) => t.hash));
    const calls = c.calls - g.callsAtStart;
    this.facts.addGeneration({
      generation: g.index,
      best: this.best()?.score ?? null,
      generation_best: generationBest?.score ?? null,
      mean: fitnesses.length > 0 ? fitnesses.reduce((a, b) => a + b, 0) / fitnesses.length : null,
      calls,
      candidates: g.members.length,
      complete: uniques.filter((h) => complete.has(h)).length,
      dropped: uniques.filter((h) => g.race?.[h]?.dropped).length,
    });
    // The costliest generation's rate: later candidates are better, survive the race longer and cost more.
    c.callsPerCandidate = Math.max(c.callsPerCandidate, calls / Math.max(1, g.members.length));
    c.candidates += g.members.length;
    c.current = null;
  }

  private checkStopping(): void {
    const stopping = this.settings.earlyStopping;
    const best = this.best();
    if (stopping.targetScore !== null && best && best.score >= stopping.targetScore) this.stop("target_score");
    else if (stopping.enabled && this.control.noImprovement >= stopping.patience) this.stop("no_improvement");
  }
}

function uniqueMembers(g: GenerationState): string[] {
  return [...new Set(g.members)];
}

/** A proposed candidate as the space takes it (see Study.suggest), or null when it cannot be one. */
function conformConfig(space: SearchSpace, raw: unknown, base: ParamConfig | null): ParamConfig | null {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return null;
  const given = raw as Record<string, JsonValue>;
  if (Object.keys(given).some((name) => !Object.hasOwn(space, name))) return null;
  const config: ParamConfig = {};
  for (const [name, param] of Object.entries(space)) {
    const value = Object.hasOwn(given, name) ? conformValue(param, given[name], MAX_TEXT_VALUE_BYTES) : (base?.[name] ?? null);
    if (value === null) return null;
    // A text value a text parameter cannot take any more (its list is full) drops the candidate.
    if (param.type === "categorical" && param.text && !param.values.includes(value) && param.values.length >= MAX_VALUES_PER_PARAMETER)
      return null;
    config[name] = value;
  }
  return config;
}
