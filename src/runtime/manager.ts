/**
 * RuntimeManager: the runtime loop over any RuntimeStorage. select draws a Thompson sample per arm and records
 * the decision; update applies a reward to the decision's arm. Unlike the reference, select and update of one
 * (agent type, user) are serialized (no lost update), a decision is rewarded at most once (a repeat answers
 * duplicate: true and changes nothing), a decision of another user is refused, and update uses the agent type
 * the decision was made under.
 */
import { betaInterval, type Uniform } from "../bandit/beta.js";
import {
  type ContextModel,
  contextualPrior,
  type EncodedContext,
  encodeContext,
  fitContextModel,
  modelInput,
  predictArm,
} from "../bandit/contextual.js";
import { armPopulationOf, estimatedStrength, type Population, pooledPrior, removeUser } from "../bandit/pooling.js";
import {
  type ArmLearning,
  type BetaParams,
  type Drift,
  learningAt,
  posteriorOf,
  storedLearning,
  UNIFORM_PRIOR,
} from "../bandit/posterior.js";
import { rewardFromSignals } from "../bandit/reward.js";
import { selectionOptions } from "../bandit/selection.js";
import { ProbabilityMemo, probabilityBest, selectArm } from "../bandit/thompson.js";
import { bayesianUpdate } from "../bandit/update.js";
import type { JsonValue } from "../json.js";
import { KeyedLock } from "./lock.js";
import {
  type ArmSnapshot,
  type ArmView,
  NO_REWARD_EVALUATOR,
  type RuntimeConfig,
  type RuntimeDecision,
  type RuntimeSelection,
  type SelectRequest,
  type UpdateRequest,
  type UpdateResult,
} from "./schema.js";
import { coerceArm, priorArm, type RuntimeStorage, type StoredArm, updatesOf } from "./storage.js";

export interface RuntimeManagerOptions {
  random?: Uniform;
  /** The population statistics pooled priors come from (the service's cron refreshes them). */
  population?: Population | null;
  /** The context model of a system with context_features (the service's cron fits it from the log). */
  contextModel?: ContextModel | null;
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

function scoreProblem(name: string, value: number | undefined): string | null {
  if (value === undefined) return null;
  return Number.isFinite(value) && value >= 0 && value <= 1 ? null : `${name} must be a number in [0, 1], got ${value}`;
}

/**
 * A storage an app wrote against an earlier version (or the seed) may keep epoch milliseconds or Dates: answered
 * as the ISO 8601 text every other timestamp is.
 */
function isoTime(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" || value instanceof Date) return new Date(value).toISOString();
  return String(value);
}

function withoutLearning(metadata: Record<string, JsonValue>): Record<string, JsonValue> {
  const { learning: _learning, ...rest } = metadata;
  return rest;
}

/** Updates between two refreshes of the population statistics by an in-process runtime. */
const POPULATION_REFRESH_UPDATES = 50;

export class RuntimeManager {
  private readonly lock = new KeyedLock();
  private readonly random: Uniform;
  private readonly memos = new Map<string, ProbabilityMemo>();
  private population: Population | null;
  private contextModel: ContextModel | null;
  private updatesSinceRefresh = 0;
  private refreshed = false;
  private refreshing: Promise<void> | null = null;

  constructor(
    readonly system: string,
    private config: RuntimeConfig,
    readonly storage: RuntimeStorage,
    options: RuntimeManagerOptions = {},
  ) {
    this.random = options.random ?? Math.random;
    this.population = options.population ?? null;
    this.contextModel = options.contextModel ?? null;
  }

  private get hasFeatures(): boolean {
    return Object.keys(this.config.context_features).length > 0;
  }

  /**
   * With a storage that can summarize every user (the in-memory one), refresh the population statistics and the
   * context model now and then: at the first select, then every POPULATION_REFRESH_UPDATES updates. The service
   * refreshes them from the decision log on its cron instead, never on the request path.
   */
  private refreshPopulation(): Promise<void> {
    const storage = this.storage;
    const pools = this.config.pooling.enabled && storage.populationStats;
    // Only the contextual policy reads the model.
    const fits = this.config.selection_policy === "contextual" && storage.contextStats;
    if (!pools && !fits) return Promise.resolve();
    if (this.refreshing) return this.refreshing;
    if (this.refreshed && this.updatesSinceRefresh < POPULATION_REFRESH_UPDATES) return Promise.resolve();
    // One refresh at a time; after a failure the next try waits for as many updates as after a success.
    this.refreshed = true;
    this.updatesSinceRefresh = 0;
    this.refreshing = (async () => {
      try {
        if (pools) this.population = (await storage.populationStats?.()) ?? this.population;
        const stats = fits ? await storage.contextStats?.() : undefined;
        if (stats) this.contextModel = fitContextModel(this.config.context_features, stats);
      } catch (error) {
        // Selection goes on with the statistics it had: pooling is an improvement, not a dependency.
        console.error(`runtime ${this.system}: could not refresh the population statistics`, error);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private drift(): Drift {
    return { decay: this.config.reward_decay, window: this.config.reward_window };
  }

  /**
   * The prior a user's arm starts from. With the contextual policy and a model of the arm: what the model predicts
   * for this context (contextual.ts). Else the population's without this user's own rewards (they are the user's
   * evidence already), when pooling is on and the arm has one; else uniform.
   */
  private priorFor(agentType: string, armId: string, own: ArmLearning, context: EncodedContext | null): BetaParams {
    const pooling = this.config.pooling;
    if (!pooling.enabled || !this.population) return UNIFORM_PRIOR;
    const population = armPopulationOf(this.population, agentType, armId);
    const others = population && removeUser(population, own);
    const prediction = context && this.contextModel ? predictArm(this.contextModel, agentType, armId, context) : null;
    if (prediction) {
      // The pooling strength says how far one user strays from everyone: τ² of the Beta it implies.
      const strength = pooling.prior_strength === "auto" ? others && estimatedStrength(others) : pooling.prior_strength;
      if (strength !== null && strength !== undefined) {
        const m = Math.min(0.999, Math.max(0.001, prediction.mean));
        return contextualPrior(prediction, (m * (1 - m)) / (strength + 1));
      }
    }
    return pooledPrior(others, pooling.prior_strength);
  }

  /**
   * The Beta the policy samples for a stored arm now: the prior plus the user's evidence, discounted or windowed
   * as the config asks (posterior.ts). `now`: the user's updates so far; `context`: the request's, for the
   * contextual policy.
   */
  private effective(arm: StoredArm, agentType: string, now: number, context: EncodedContext | null = null): StoredArm {
    const stored = storedLearning(arm, now);
    const { alpha, beta } = posteriorOf(learningAt(stored, now, this.drift()), this.priorFor(agentType, arm.arm_id, stored, context));
    return { ...arm, alpha, beta, mean_estimate: alpha / (alpha + beta) };
  }

  get runtimeConfig(): RuntimeConfig {
    return this.config;
  }

  configure(config: RuntimeConfig): void {
    this.config = config;
  }

  agentTypeOf(agentType?: string): string {
    return agentType ?? this.config.agent_type ?? "default";
  }

  /**
   * The arms to choose among. With default arms configured they are the system's arm set: missing ones are
   * created (so users get new arms at their next select); stored arms no longer listed keep their history but are
   * not chosen.
   * The config's params are the arm's params; the storage holds its statistics.
   */
  private async activeArms(userId: string, agentType: string): Promise<{ arms: StoredArm[]; now: number }> {
    let stored = (await this.storage.getArms({ userId, agentType }))
      .filter(Boolean)
      .map((a) => coerceArm(a as unknown as Record<string, unknown>));
    const defaults = this.config.default_arms;
    if (defaults.length === 0) return { arms: stored, now: updatesOf(stored) };
    const missing = defaults.filter((t) => !stored.some((a) => a.arm_id === t.arm_id));
    if (missing.length > 0) {
      await this.storage.initializeArms({
        userId,
        agentType,
        arms: missing.map((t) => ({ arm_id: t.arm_id, name: t.name ?? t.arm_id, params: t.params, description: t.description ?? "" })),
      });
      stored = (await this.storage.getArms({ userId, agentType })).map((a) => coerceArm(a as unknown as Record<string, unknown>));
    }
    const arms: StoredArm[] = [];
    for (const template of defaults) {
      const arm = stored.find((a) => a.arm_id === template.arm_id);
      if (arm) arms.push({ ...arm, name: template.name ?? arm.name, params: template.params });
    }
    return { arms, now: updatesOf(stored) };
  }

  private fallback(agentType: string): RuntimeSelection {
    const first = this.config.default_arms[0];
    const metadata: Record<string, JsonValue> = { system: this.system, agent_type: agentType, fallback: true };
    if (first) {
      return {
        decision_id: null,
        arm_id: first.arm_id,
        params: first.params,
        sampled_value: 0.5,
        selection_probability: 1,
        arms_state: [{ arm_id: first.arm_id, name: first.name ?? null, alpha: 1, beta: 1, sampled_value: 0.5, metadata: {} }],
        metadata,
      };
    }
    return { decision_id: null, arm_id: "default", params: {}, sampled_value: 0, selection_probability: 1, arms_state: [], metadata };
  }

  private memoFor(userId: string, agentType: string): ProbabilityMemo {
    const key = JSON.stringify([agentType, userId]);
    let memo = this.memos.get(key);
    if (!memo) {
      // One memo per user: bounded, since an in-process manager may serve many users.
      if (this.memos.size >= 1000) this.memos.delete(this.memos.keys().next().value as string);
      memo = new ProbabilityMemo();
      this.memos.set(key, memo);
    }
    return memo;
  }

  async select(request: SelectRequest): Promise<RuntimeSelection> {
    const agentType = this.agentTypeOf(request.agent_type);
    await this.refreshPopulation();
    const features = this.hasFeatures ? encodeContext(this.config.context_features, request.context) : undefined;
    const context =
      features && this.contextModel && this.config.selection_policy === "contextual"
        ? modelInput(this.contextModel, this.config.context_features, features)
        : null;
    return this.lock.run(JSON.stringify([agentType, request.user_id]), async () => {
      let arms: StoredArm[];
      try {
        const active = await this.activeArms(request.user_id, agentType);
        arms = active.arms.map((a) => this.effective(a, agentType, active.now, context));
      } catch (error) {
        // The seed's behaviour: without arms, answer with the first default arm rather than fail the request.
        console.error(`runtime ${this.system}: could not load arms`, error);
        const fallback = this.fallback(agentType);
        return { ...fallback, metadata: { ...fallback.metadata, error: "arms could not be loaded" } };
      }
      if (arms.length === 0) return this.fallback(agentType);
      const selection = selectArm(
        arms.map((a) => ({ ...a, confidence_interval: null })),
        selectionOptions(this.config, { random: this.random, memo: this.memoFor(request.user_id, agentType) }),
      );
      const chosen = arms[selection.index] as StoredArm;
      const snapshot: ArmSnapshot[] = arms.map((a, i) => ({
        arm_id: a.arm_id,
        name: a.name,
        alpha: a.alpha,
        beta: a.beta,
        sampled_value: selection.samples[i] as number,
        total_pulls: a.total_pulls,
        // What an arm learned stays in storage: a window's entries would weigh down every answer and decision.
        metadata: withoutLearning(a.metadata),
      }));
      const decisionId = await this.storage.createDecision({
        userId: request.user_id,
        agentType,
        armPulled: chosen.arm_id,
        strategyParams: chosen.params,
        armsSnapshot: snapshot,
        metadata: request.context ?? {},
        selectionProbability: selection.probability,
        ...(features ? { features } : {}),
      });
      return {
        decision_id: decisionId,
        arm_id: chosen.arm_id,
        params: chosen.params,
        sampled_value: selection.samples[selection.index] as number,
        selection_probability: selection.probability,
        arms_state: snapshot,
        metadata: {
          system: this.system,
          agent_type: agentType,
          decision_id: decisionId,
          samples: Object.fromEntries(snapshot.map((s) => [s.arm_id, s.sampled_value])),
          explored: selection.explored,
        },
      };
    });
  }

  /**
   * The reward by the seed's precedence: signals (through the reward evaluator) > reward > engagement > 0.5.
   * The 0.5 of an update that reports nothing is a placeholder, not a measurement.
   */
  private rewardOf(request: UpdateRequest): { reward: number; placeholder: boolean } {
    if (this.config.reward_evaluator && request.signals && Object.keys(request.signals).length > 0) {
      return { reward: rewardFromSignals(this.config.reward_evaluator, request.signals), placeholder: false };
    }
    const reported = request.reward ?? request.engagement_score;
    return { reward: clamp01(reported ?? 0.5), placeholder: reported === undefined };
  }

  async update(request: UpdateRequest, source: "update" | "default" = "update"): Promise<UpdateResult> {
    const refused = (code: NonNullable<UpdateResult["code"]>, error: string, reward = 0): UpdateResult => ({
      success: false,
      error,
      code,
      reward,
      engagement_score: reward,
      grading_score: request.grading_score ?? null,
      computed_update: null,
      duplicate: false,
    });
    const problem =
      scoreProblem("reward", request.reward) ??
      scoreProblem("engagement_score", request.engagement_score) ??
      scoreProblem("grading_score", request.grading_score);
    if (problem) return refused("invalid_score", problem);
    // Without an evaluator the signals would be dropped and the update would count as the 0.5 placeholder.
    if (request.signals && Object.keys(request.signals).length > 0 && !this.config.reward_evaluator) {
      return refused("no_reward_evaluator", NO_REWARD_EVALUATOR);
    }
    const first = await this.storage.getDecision({ userId: request.user_id, decisionId: request.decision_id });
    if (!first?.arm_id) return refused("decision_not_found", `Decision ${JSON.stringify(request.decision_id)} not found or missing arm_id`);
    if (first.user_id !== request.user_id)
      return refused("decision_of_another_user", `Decision ${JSON.stringify(request.decision_id)} belongs to another user`);
    const agentType = first.agent_type;
    return this.lock.run(JSON.stringify([agentType, request.user_id]), async () => {
      const decision = (await this.storage.getDecision({ userId: request.user_id, decisionId: request.decision_id })) as RuntimeDecision;
      if (decision.reward !== null) {
        return {
          success: true,
          reward: decision.reward,
          engagement_score: decision.engagement ?? decision.reward,
          grading_score: decision.grading,
          computed_update: null,
          duplicate: true,
        };
      }
      const { reward, placeholder } = this.rewardOf(request);
      const engagement = clamp01(request.engagement_score ?? reward);
      const grading = request.grading_score ?? null;
      const arms = (await this.storage.getArms({ userId: request.user_id, agentType })).map((a) =>
        coerceArm(a as unknown as Record<string, unknown>),
      );
      const arm = arms.find((a) => a.arm_id === decision.arm_id);
      if (!arm) return refused("arm_not_found", `Arm ${decision.arm_id} not found`, reward);
      const update = bayesianUpdate(arm, reward, this.drift(), updatesOf(arms), placeholder || source === "default");
      this.updatesSinceRefresh += 1;
      // What the arm learned is stored with it; the answer keeps the seed's shape.
      const { learning: _stored, ...computed } = update;
      const stored = await this.storage.updatePerformance({
        userId: request.user_id,
        agentType,
        decisionId: request.decision_id,
        reward,
        engagement,
        grading,
        metadata: request.metadata ?? {},
        computedUpdate: update,
        source,
      });
      return {
        success: stored && typeof stored === "object" && "success" in stored ? stored.success !== false : true,
        reward,
        engagement_score: engagement,
        grading_score: grading,
        computed_update: computed,
        duplicate: false,
      };
    });
  }

  async getDecision(args: { userId: string; decisionId: string }): Promise<RuntimeDecision | null> {
    const decision = await this.storage.getDecision(args);
    if (!decision || decision.user_id !== args.userId) return null;
    return { ...decision, created_at: isoTime(decision.created_at) as string, rewarded_at: isoTime(decision.rewarded_at) };
  }

  /** Every arm of a user with its posterior, 95% interval and probability of being the best. */
  async arms(args: { userId: string; agentType?: string }): Promise<ArmView[]> {
    const agentType = this.agentTypeOf(args.agentType);
    const stored = (await this.storage.getArms({ userId: args.userId, agentType })).map((a) =>
      coerceArm(a as unknown as Record<string, unknown>),
    );
    const defaults = this.config.default_arms;
    const known = new Set(stored.map((a) => a.arm_id));
    // Arms the user has not met yet show their prior.
    const now = updatesOf(stored);
    const all = [...stored, ...defaults.filter((t) => !known.has(t.arm_id)).map(priorArm)].map((a) => this.effective(a, agentType, now));
    const isActive = (a: StoredArm) => defaults.length === 0 || defaults.some((t) => t.arm_id === a.arm_id);
    const active = all.filter(isActive);
    const pBest = probabilityBest(active, 4000, this.random);
    return all.map((a) => {
      const template = defaults.find((t) => t.arm_id === a.arm_id);
      const index = active.indexOf(a);
      return {
        arm_id: a.arm_id,
        name: template?.name ?? a.name,
        params: template?.params ?? a.params,
        alpha: a.alpha,
        beta: a.beta,
        total_pulls: a.total_pulls,
        total_reward: a.total_reward,
        mean: a.alpha / (a.alpha + a.beta),
        confidence_interval: betaInterval(a.alpha, a.beta),
        probability_best: index >= 0 ? (pBest[index] as number) : 0,
        active: index >= 0,
      };
    });
  }
}
