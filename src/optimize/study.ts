/**
 * The study: an ask/tell state machine over (candidate, test case) evaluations, with JSON state and a seeded
 * PRNG. `ask` says which evaluations to run now; `tell` records their scores. Whoever runs the evaluations (the
 * in-process SDK, or a Durable Object fed by queue consumers) holds nothing else: same seed, same run.
 *
 * A generation: the sampler proposes `population_size` configs (tpe: `parallel_workers` at a time, and more
 * configs when racing saved calls); each is scored on every test case (evolution, random) or raced
 * (mab_evolution, tpe: see racing.ts). A (config, test case) pair already scored is never asked again. When the
 * generation is in, the best fully scored config may become the new best (tpe: the noise-aware best, see
 * noise-aware-best.ts), early stopping is checked, and the next generation starts.
 */
import type { JsonValue } from "../json.js";
import { hashConfig } from "../search/hash.js";
import { Rng, type RngState, seedRng } from "../search/rng.js";
import type { ParamConfig, SearchSpace } from "../search/space.js";
import { noiseAwareBest } from "./noise-aware-best.js";
import {
  type CaseScores,
  defaultInitialBatch,
  type PairedEstimate,
  pairedEstimate,
  pooledVariance,
  probabilityOfBeating,
  scoreOf,
  setScore,
  type TestCaseWeight,
} from "./racing.js";
import { SAMPLERS, type Trial } from "./samplers/index.js";
import { runSteps } from "./samplers/sampler.js";
import type { StudySettings } from "./settings.js";
import { weightedMean } from "./stats.js";

export type StopReason =
  | "generations"
  | "no_improvement"
  | "target_score"
  | "max_target_calls"
  | "max_cost_usd"
  | "cancelled"
  /** Not one evaluation of a whole round succeeded: the target (or the judge) is down or misconfigured. */
  | "all_failed";

export interface GenerationSummary {
  generation: number;
  /** Best full score found so far (after this generation). */
  best: number | null;
  /** Best full score among this generation's candidates. */
  generation_best: number | null;
  /** Mean fitness of this generation's candidates (estimates for raced-out ones). */
  mean: number | null;
  /** Target calls made during this generation. */
  calls: number;
  candidates: number;
  complete: number;
  dropped: number;
}

interface RaceEntry {
  target: number;
  dropped: boolean;
}

interface GenerationState {
  index: number;
  /** Member hashes in proposal order (duplicates possible: they share one evaluation). */
  members: string[];
  /** Test case ids in the order the race reveals them. */
  order: string[];
  race: Record<string, RaceEntry> | null;
  callsAtStart: number;
  /** Candidates the generation will have; the sampler proposes them `settings.proposalBatch` at a time. */
  size?: number;
}

export interface StudyState {
  version: 1;
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
  configs: Record<string, ParamConfig>;
  scores: Record<string, CaseScores>;
  /** "hash|testCaseId" of evaluations asked and not yet told. */
  pending: Record<string, true>;
  /** The best measured full score: the incumbent racing compares candidates with. */
  best: { hash: string; score: number; generation: number } | null;
  /** With settings.noiseAwareBest, the config reported as best (see noise-aware-best.ts). */
  reported?: { hash: string; score: number; generation: number } | null;
  trials: Trial[];
  history: GenerationSummary[];
  calls: number;
  /** What the evaluations told so far cost (USD), for max_cost_usd. */
  cost: number;
  noImprovement: number;
  /** Residuals of paired differences from finished races, pooled across generations. */
  residuals: { sumSq: number; dof: number };
}

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
  /** What this evaluation cost (target and scoring calls, USD). */
  cost?: number;
}

export function createStudy(options: {
  settings: StudySettings;
  space: SearchSpace;
  testCases: readonly TestCaseWeight[];
  seed: number;
}): StudyState {
  if (options.testCases.length === 0) throw new Error("a study needs at least one test case");
  return {
    version: 1,
    settings: options.settings,
    space: options.space,
    testCases: options.testCases.map(({ id, weight }) => ({ id, weight })),
    rng: seedRng(options.seed),
    sampler: null,
    status: "running",
    stopReason: null,
    generation: -1,
    current: null,
    configs: {},
    scores: {},
    pending: {},
    best: null,
    trials: [],
    history: [],
    calls: 0,
    cost: 0,
    noImprovement: 0,
    residuals: { sumSq: 0, dof: 0 },
  };
}

const keyOf = (hash: string, testCaseId: string) => `${hash}|${testCaseId}`;

/** The evaluations to run now: empty while earlier ones are pending, or once the study is done. */
export function ask(state: StudyState): { state: StudyState; evaluations: Evaluation[] } {
  if (state.status === "done" || Object.keys(state.pending).length > 0) return { state, evaluations: [] };
  const s = structuredClone(state);
  const evaluations = runSteps(advance(s));
  return { state: s, evaluations };
}

/**
 * ask, awaiting `pause` after each candidate proposed: the same answer, but a generation of many candidates (or
 * of slow ones: tpe over a large space) no longer holds the thread it shares with other requests all at once.
 */
export async function askPausing(state: StudyState, pause: () => Promise<void>): Promise<{ state: StudyState; evaluations: Evaluation[] }> {
  if (state.status === "done" || Object.keys(state.pending).length > 0) return { state, evaluations: [] };
  const s = structuredClone(state);
  const steps = advance(s);
  for (;;) {
    const step = steps.next();
    if (step.done) return { state: s, evaluations: step.value };
    await pause();
  }
}

/**
 * Record scores. Only evaluations that were asked and are still pending count: a repeated or unknown report
 * changes nothing, so redelivered queue messages are harmless. Non-finite scores are recorded as 0.
 */
export function tell(state: StudyState, results: readonly EvaluationResult[]): StudyState {
  const s = structuredClone(state);
  for (const { hash, testCaseId, score, cost } of results) {
    const key = keyOf(hash, testCaseId);
    if (!s.pending[key]) continue;
    delete s.pending[key];
    if (cost !== undefined && Number.isFinite(cost) && cost > 0) s.cost += cost;
    s.scores[hash] ??= {};
    setScore(s.scores[hash] as CaseScores, testCaseId, Number.isFinite(score) ? score : 0);
  }
  return s;
}

/** Give up the evaluations still pending (a cancelled run); their pairs count as never asked. */
export function finish(state: StudyState, reason: StopReason): StudyState {
  const s = structuredClone(state);
  s.pending = {};
  if (s.current) finalizeGeneration(s);
  s.status = "done";
  s.stopReason = reason;
  return s;
}

function rngOf(s: StudyState): { rng: Rng; save: () => void } {
  const rng = new Rng(s.rng);
  return { rng, save: () => (s.rng = rng.state) };
}

function isComplete(s: StudyState, hash: string): boolean {
  const scores = s.scores[hash];
  return scores !== undefined && s.testCases.every((t) => scoreOf(scores, t.id) !== undefined);
}

/** The weighted mean over all test cases of a fully scored config. */
export function fullScore(s: StudyState, hash: string): number | null {
  if (!isComplete(s, hash)) return null;
  const scores = s.scores[hash] as CaseScores;
  return weightedMean(
    s.testCases.map((t) => scoreOf(scores, t.id) as number),
    s.testCases.map((t) => t.weight),
  );
}

function partialMean(s: StudyState, hash: string): number {
  const scores = s.scores[hash] ?? {};
  const seen = s.testCases.filter((t) => scoreOf(scores, t.id) !== undefined);
  return weightedMean(
    seen.map((t) => scoreOf(scores, t.id) as number),
    seen.map((t) => t.weight),
  );
}

function uniqueMembers(g: GenerationState): string[] {
  return [...new Set(g.members)];
}

/** The best fully scored config so far, this generation included. */
function incumbent(s: StudyState): { hash: string; score: number } | null {
  let best = s.best ? { hash: s.best.hash, score: s.best.score } : null;
  for (const hash of s.current ? uniqueMembers(s.current) : []) {
    const score = fullScore(s, hash);
    if (score !== null && (best === null || score > best.score)) best = { hash, score };
  }
  return best;
}

function* advance(s: StudyState): Generator<void, Evaluation[], void> {
  for (;;) {
    if (s.status === "done") return [];
    if (!s.current) {
      if (s.generation + 1 >= s.settings.generations) {
        s.status = "done";
        s.stopReason = "generations";
        return [];
      }
      yield* startGeneration(s);
    }
    const g = s.current as GenerationState;
    let needed = neededEvaluations(s, g);
    if (needed.length > 0 && s.settings.maxCostUsd !== null && s.cost >= s.settings.maxCostUsd) {
      finalizeGeneration(s);
      s.status = "done";
      s.stopReason = "max_cost_usd";
      return [];
    }
    if (needed.length > 0) {
      const cap = s.settings.reinvestSavings ? callBudget(s) : s.settings.maxTargetCalls;
      if (cap !== null) {
        const remaining = cap - s.calls;
        if (remaining <= 0) {
          finalizeGeneration(s);
          s.status = "done";
          s.stopReason = "max_target_calls";
          return [];
        }
        needed = needed.slice(0, remaining);
      }
      for (const e of needed) s.pending[keyOf(e.hash, e.testCaseId)] = true;
      s.calls += needed.length;
      return needed;
    }
    if (raceStep(s, g)) continue;
    if (g.members.length < (g.size ?? 0)) {
      yield* proposeMembers(s, g);
      continue;
    }
    finalizeGeneration(s);
    checkStopping(s);
  }
}

/** The calls a run may make: every candidate of every generation on every test case, or max_target_calls. */
export function callBudget(s: Pick<StudyState, "settings" | "testCases">): number {
  const { populationSize, generations, maxTargetCalls } = s.settings;
  return Math.min(populationSize * generations * s.testCases.length, maxTargetCalls ?? Number.POSITIVE_INFINITY);
}

/**
 * Candidates in the next generation. Racing ends most candidates after a few test cases; with
 * `reinvestSavings` the calls it saves buy more candidates, sized from what a candidate has cost so far so that
 * the remaining generations share what is left of the budget (at least the population, at most four times it).
 */
function generationSize(s: StudyState, index: number): number {
  const base = s.settings.populationSize;
  const candidates = s.history.reduce((n, h) => n + h.candidates, 0);
  if (!s.settings.reinvestSavings || !s.settings.racing || candidates === 0 || s.calls === 0) return base;
  // The costliest generation's rate: later candidates are better, survive the race longer and cost more.
  const perCandidate = Math.max(...s.history.map((h) => h.calls / Math.max(1, h.candidates)));
  const remainingGenerations = Math.max(1, s.settings.generations - index);
  const affordable = Math.floor((callBudget(s) - s.calls) / remainingGenerations / perCandidate);
  return Math.min(4 * base, Math.max(base, affordable));
}

/** The test cases a new candidate is first scored on: the race's first batch, or all of them. */
function firstBatch(s: StudyState): number {
  const racing = s.settings.racing;
  return racing ? (racing.initialTestCases ?? defaultInitialBatch(s.testCases.length)) : s.testCases.length;
}

function* startGeneration(s: StudyState): Generator<void, void, void> {
  const index = s.generation + 1;
  s.generation = index;
  s.current = {
    index,
    members: [],
    order: [],
    race: firstBatch(s) < s.testCases.length ? {} : null,
    callsAtStart: s.calls,
    size: generationSize(s, index),
  };
  yield* proposeMembers(s, s.current);
}

/**
 * The sampler proposes the generation's next candidates: all of them at once, or `proposalBatch` at a time once
 * the earlier ones are settled, so each proposal learns from every evaluation finished so far.
 */
function* proposeMembers(s: StudyState, g: GenerationState): Generator<void, void, void> {
  const size = g.size ?? s.settings.populationSize;
  const count = Math.min(size - g.members.length, s.settings.proposalBatch ?? size);
  const { rng, save } = rngOf(s);
  const sampler = SAMPLERS[s.settings.algorithm];
  const proposal = yield* sampler.propose(
    {
      space: s.space,
      settings: s.settings,
      generation: g.index,
      size: count,
      progress: Math.min(1, s.calls / Math.max(1, callBudget(s))),
      trials: g.members.length > 0 ? [...s.trials, ...generationTrials(s, g)] : s.trials,
      configOf: (hash) => s.configs[hash] as ParamConfig,
      isKnown: (config) => s.configs[hashConfig(config)] !== undefined,
      rng,
    },
    s.sampler,
  );
  s.sampler = proposal.state;
  const batch = firstBatch(s);
  for (const config of proposal.configs) {
    const hash = hashConfig(config);
    s.configs[hash] ??= config;
    g.members.push(hash);
    if (g.race && !g.race[hash]) g.race[hash] = { target: batch, dropped: false };
  }
  // A config proposed nowhere new (a tiny space, all tried) must not stall the generation.
  if (proposal.configs.length === 0) g.size = g.members.length;
  if (g.order.length === 0) g.order = rng.shuffle(s.testCases.map((t) => t.id));
  save();
}

function neededEvaluations(s: StudyState, g: GenerationState): Evaluation[] {
  const out: Evaluation[] = [];
  for (const hash of uniqueMembers(g)) {
    const entry = g.race?.[hash];
    if (entry?.dropped) continue;
    const wanted = entry ? g.order.slice(0, entry.target) : g.order;
    const scores = s.scores[hash] ?? {};
    for (const testCaseId of wanted) {
      if (scoreOf(scores, testCaseId) === undefined) {
        out.push({ hash, config: s.configs[hash] as ParamConfig, testCaseId, generation: g.index });
      }
    }
  }
  return out;
}

function priorVariance(s: StudyState, incumbentHash: string): number {
  const scores = s.scores[incumbentHash] ?? {};
  const values = s.testCases.map((t) => scoreOf(scores, t.id)).filter((v): v is number => v !== undefined);
  if (values.length < 2) return 0.01;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
  return variance > 0 ? variance : 0.01;
}

/** One racing decision. Returns true when some candidate needs more test cases. */
function raceStep(s: StudyState, g: GenerationState): boolean {
  const race = g.race;
  if (!race) return false;
  const alive = uniqueMembers(g).filter((h) => !race[h]?.dropped && !isComplete(s, h));
  if (alive.length === 0) return false;
  const inc = incumbent(s);
  if (!inc) {
    const leader = alive.reduce((best, h) => (partialMean(s, h) > partialMean(s, best) ? h : best));
    (race[leader] as RaceEntry).target = s.testCases.length;
    return true;
  }
  const incScores = s.scores[inc.hash] as CaseScores;
  const estimates = new Map<string, PairedEstimate>();
  let sumSq = s.residuals.sumSq;
  let dof = s.residuals.dof;
  for (const h of alive) {
    const e = pairedEstimate(s.scores[h] ?? {}, incScores, s.testCases);
    if (!e) continue;
    estimates.set(h, e);
    sumSq += e.sumSq;
    dof += e.dof;
  }
  const variance = pooledVariance(sumSq, dof, priorVariance(s, inc.hash));
  const threshold = s.settings.racing?.eliminationThreshold ?? 0.05;
  let more = false;
  for (const h of alive) {
    const entry = race[h] as RaceEntry;
    const e = estimates.get(h);
    if (e && probabilityOfBeating(e, variance) < threshold) {
      entry.dropped = true;
      continue;
    }
    const next = Math.min(s.testCases.length, Math.max(entry.target + 1, entry.target * 2));
    if (next > entry.target) {
      entry.target = next;
      more = true;
    }
  }
  return more;
}

/**
 * Each member's fitness: its full score, or the race's estimate of it from paired differences with the
 * incumbent. `residuals`, when given, collects those differences' residuals for the pooled variance.
 */
function memberFitness(
  s: StudyState,
  g: GenerationState,
  residuals?: StudyState["residuals"],
): Map<string, { fitness: number; complete: boolean }> {
  const inc = incumbent(s);
  const incScores = inc ? (s.scores[inc.hash] as CaseScores) : null;
  const fitnessOf = new Map<string, { fitness: number; complete: boolean }>();
  for (const hash of uniqueMembers(g)) {
    const full = fullScore(s, hash);
    if (full !== null) {
      fitnessOf.set(hash, { fitness: full, complete: true });
      continue;
    }
    const estimate = incScores && inc ? pairedEstimate(s.scores[hash] ?? {}, incScores, s.testCases) : null;
    if (estimate && residuals) {
      residuals.sumSq += estimate.sumSq;
      residuals.dof += estimate.dof;
    }
    const fitness = estimate && inc ? inc.score + estimate.meanDiff : partialMean(s, hash);
    fitnessOf.set(hash, { fitness, complete: false });
  }
  return fitnessOf;
}

/**
 * The generation's members as trials, in proposal order. A member never scored (the budget ran out first) is
 * no trial: it has no fitness to tell.
 */
function generationTrials(s: StudyState, g: GenerationState, residuals?: StudyState["residuals"]): Trial[] {
  const fitnessOf = memberFitness(s, g, residuals);
  const scored = (hash: string) => s.testCases.some((t) => scoreOf(s.scores[hash], t.id) !== undefined);
  return g.members.filter(scored).map((hash) => {
    const f = fitnessOf.get(hash) as { fitness: number; complete: boolean };
    return { generation: g.index, hash, fitness: f.fitness, complete: f.complete, dropped: g.race?.[hash]?.dropped ?? false };
  });
}

function finalizeGeneration(s: StudyState): void {
  const g = s.current;
  if (!g) return;
  const trials = generationTrials(s, g, s.residuals);
  const fitnessOf = new Map(trials.map((t) => [t.hash, t]));
  let generationBest: { hash: string; score: number } | null = null;
  for (const f of trials) {
    const hash = f.hash;
    s.trials.push(f);
    if (f.complete && (generationBest === null || f.fitness > generationBest.score)) {
      generationBest = { hash, score: f.fitness };
    }
  }
  const previous = s.best?.score ?? null;
  if (s.settings.noiseAwareBest) s.reported = noiseAwareChoice(s);
  if (generationBest && (s.best === null || generationBest.score > s.best.score)) {
    s.best = { hash: generationBest.hash, score: generationBest.score, generation: g.index };
  }
  const gain = s.best !== null && previous !== null ? s.best.score - previous : null;
  const improved =
    s.best !== null &&
    (previous === null ||
      ((gain as number) > 0 && (gain as number) >= s.settings.earlyStopping.minImprovement * Math.max(Math.abs(previous), 1e-9)));
  s.noImprovement = improved ? 0 : s.noImprovement + 1;
  const fitnesses = trials.map((t) => t.fitness);
  const uniques = uniqueMembers(g);
  s.history.push({
    generation: g.index,
    best: bestOf(s)?.score ?? null,
    generation_best: generationBest?.score ?? null,
    mean: fitnesses.length > 0 ? fitnesses.reduce((a, b) => a + b, 0) / fitnesses.length : null,
    calls: s.calls - g.callsAtStart,
    candidates: g.members.length,
    complete: uniques.filter((h) => fitnessOf.get(h)?.complete).length,
    dropped: uniques.filter((h) => g.race?.[h]?.dropped).length,
  });
  s.current = null;
}

/** The best by noise-aware-best.ts over every config scored so far, with its measured full score. */
function noiseAwareChoice(s: StudyState): StudyState["best"] {
  const latest = new Map<string, Trial>();
  const firstGeneration = new Map<string, number>();
  for (const t of s.trials) {
    latest.set(t.hash, t);
    if (!firstGeneration.has(t.hash)) firstGeneration.set(t.hash, t.generation);
  }
  const scored = [...latest.values()].map((t) => {
    const weights = s.testCases.filter((c) => scoreOf(s.scores[t.hash], c.id) !== undefined).map((c) => c.weight);
    const sum = weights.reduce((a, w) => a + w, 0);
    const squares = weights.reduce((a, w) => a + w * w, 0);
    return {
      hash: t.hash,
      config: s.configs[t.hash] as ParamConfig,
      score: t.fitness,
      observed: squares > 0 ? (sum * sum) / squares : 0,
      complete: t.complete,
    };
  });
  const { sumSq, dof } = s.residuals;
  // Paired differences carry the noise of two configs: half their variance is one config's.
  const hash = noiseAwareBest(s.space, scored, dof >= 2 ? sumSq / dof / 2 : 0);
  const score = hash === null ? null : fullScore(s, hash);
  return hash === null || score === null ? null : { hash, score, generation: firstGeneration.get(hash) ?? s.generation };
}

function checkStopping(s: StudyState): void {
  const stopping = s.settings.earlyStopping;
  const best = bestOf(s);
  if (stopping.targetScore !== null && best && best.score >= stopping.targetScore) {
    s.status = "done";
    s.stopReason = "target_score";
  } else if (stopping.enabled && s.noImprovement >= stopping.patience) {
    s.status = "done";
    s.stopReason = "no_improvement";
  }
}

/** The best config and its full score, or null when no config was fully scored. */
export function bestOf(s: StudyState): { config: ParamConfig; score: number; hash: string } | null {
  const best = s.reported ?? s.best;
  if (!best) return null;
  return { config: s.configs[best.hash] as ParamConfig, score: best.score, hash: best.hash };
}
