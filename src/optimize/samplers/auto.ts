/**
 * `algorithm: auto`, the default: a portfolio that picks the sampler by what the run knows, as OptunaHub's
 * AutoSampler does. No single sampler wins everywhere (npm run bench:optimizer): a Gaussian process is the most
 * sample-efficient while a run is young and the space mostly numeric, the Parzen estimator handles spaces of
 * unordered choices best, and CMA-ES keeps improving at a constant cost once a run has far more evaluations
 * than a GP can afford to model.
 *
 * - Spaces without numeric parameters, or with more categorical parameters than numeric ones: tpe.
 * - Noisy scores (the race has measured test-case noise, so several test cases disagree on configs): tpe, whose
 *   model and local steps work on the race's estimates. Expected improvement chases lucky scores: on the bench's
 *   noisy llm_mixed gp's reported best had regret 0.21-0.27 by its candidate settings, tpe's 0.19.
 * - Otherwise (exact scores, mostly numeric): random for the first TPE_STARTUP configs, then gp, then, past
 *   GP_EVALUATIONS scored configs, cmaes, warm-started from the best configs so far (its mean at the best, its
 *   spread theirs).
 *
 * Each sampler keeps its own state inside auto's, so a run resumed on another host continues each where it was.
 *
 * Tried and measured (10 seeds, every bench problem): Thompson sampling over gp, cmaes and tpe per batch (reward:
 * the batch beat the best so far, or the share of it in the top fifth; discounted Beta counts) spread the
 * budget over members and matched the better of Optuna's samplers on 14 of 24 rows against gp's 15, with
 * Hartmann6 at 200 evaluations 0.05 against 0.02: choosing by the space did better than learning the choice
 * within 200 evaluations.
 */
import type { JsonValue } from "../../json.js";
import type { SearchSpace } from "../../search/space.js";
import { cmaesSampler } from "./cmaes.js";
import { gpSampler } from "./gp.js";
import { latestFitness, type ProposalSteps, type ProposeContext, type Sampler } from "./sampler.js";
import { tpeSampler } from "./tpe.js";

/** Noise of a score, as a share of the scores' variance, from which a run counts as noisy. */
const NOISE_SHARE = 1e-3;
/** Scored configs after which a numeric space hands over from the GP to CMA-ES. */
const GP_EVALUATIONS = 1_000;

type Member = "tpe" | "gp" | "cmaes";
const MEMBERS: Record<Member, Sampler> = { tpe: tpeSampler, gp: gpSampler, cmaes: cmaesSampler };

/** Each member's own state, and how many batches each has proposed (whoever reads the state sees the mix). */
interface AutoState {
  members: Partial<Record<Member, JsonValue>>;
  batches: Partial<Record<Member, number>>;
}

function mostlyCategorical(space: SearchSpace): boolean {
  const params = Object.values(space);
  const categorical = params.filter((p) => p.type === "categorical").length;
  return categorical === params.length || categorical > params.length - categorical;
}

/** The member that proposes the next batch. `noisy`: the run's test cases disagree on configs beyond chance. */
function autoMember(space: SearchSpace, scored: number, noisy: boolean): Member {
  if (mostlyCategorical(space) || noisy) return "tpe";
  return scored < GP_EVALUATIONS ? "gp" : "cmaes";
}

/**
 * Whether the race has measured test-case noise that matters: a complete config's score varies by more than a
 * thousandth of how much the configs' scores vary (rounding leaves a trace of "noise" where test cases agree).
 */
function isNoisy(context: ProposeContext): boolean {
  const complete = context.trials.filter((t) => t.complete);
  if (complete.length < 2) return false;
  const fitness = complete.map((t) => t.fitness);
  const mean = fitness.reduce((a, f) => a + f, 0) / fitness.length;
  const spread = fitness.reduce((a, f) => a + (f - mean) ** 2, 0) / fitness.length;
  return context.fitnessNoise((complete[0] as { hash: string }).hash) > NOISE_SHARE * spread;
}

export const autoSampler: Sampler = {
  name: "auto",
  stateBytes: (space, settings) => Object.values(MEMBERS).reduce((sum, member) => sum + (member.stateBytes?.(space, settings) ?? 0), 256),
  *propose(context: ProposeContext, state: JsonValue): ProposalSteps {
    const prior = (state ?? { members: {}, batches: {} }) as unknown as AutoState;
    const scored = latestFitness(context.trials).size;
    const member = autoMember(context.space, scored, isNoisy(context));
    const out = yield* MEMBERS[member].propose(context, prior.members[member] ?? null);
    const next: AutoState = {
      members: { ...prior.members, [member]: out.state },
      batches: { ...prior.batches, [member]: (prior.batches[member] ?? 0) + 1 },
    };
    return { configs: out.configs, state: next as unknown as JsonValue };
  },
};
