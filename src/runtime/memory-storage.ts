import { type ContextStats, ContextStatsAccumulator, type FeatureEntry } from "../bandit/contextual.js";
import { type ArmPopulation, type Population, setArmPopulation } from "../bandit/pooling.js";
import { type ArmLearning, storedLearning } from "../bandit/posterior.js";
import { copyJson } from "../json.js";
import type { ArmTemplate, RuntimeDecision } from "./schema.js";
import { applyUpdate, priorArm, type RuntimeStorage, type StoredArm } from "./storage.js";

const key = (userId: string, agentType: string) => JSON.stringify([userId, agentType]);

type Contribution = Omit<ArmPopulation, "users"> & { users: number };
/** One user's terms in an arm's population statistics (src/bandit/pooling.ts), signed to add or take away. */
function contribution(learning: Pick<ArmLearning, "n" | "sum" | "sum_sq">, sign: 1 | -1): Contribution {
  if (!(learning.n > 0)) return { users: 0, n: 0, sum: 0, sum_sq: 0, user_sum_sq: 0, user_n_sq: 0 };
  return {
    users: sign,
    n: sign * learning.n,
    sum: sign * learning.sum,
    sum_sq: sign * learning.sum_sq,
    user_sum_sq: (sign * learning.sum * learning.sum) / learning.n,
    user_n_sq: sign * learning.n * learning.n,
  };
}

/** In-memory RuntimeStorage, for tests, scripts and single-process apps. Nothing survives the process. */
export class MemoryRuntimeStorage implements RuntimeStorage {
  private readonly arms = new Map<string, StoredArm[]>();
  private readonly decisions = new Map<string, RuntimeDecision>();
  private readonly features = new Map<string, FeatureEntry[]>();
  /** Population statistics kept up to date at each update, so a refresh costs the arms, not the users. */
  private readonly population = new Map<string, Contribution>();
  private readonly context = new ContextStatsAccumulator();
  private counter = 0;

  async getArms({ userId, agentType }: { userId: string; agentType: string }): Promise<StoredArm[]> {
    return copyJson(this.arms.get(key(userId, agentType)) ?? []);
  }

  async initializeArms({ userId, agentType, arms }: { userId: string; agentType: string; arms: ArmTemplate[] }): Promise<void> {
    const list = this.arms.get(key(userId, agentType)) ?? [];
    for (const template of arms) {
      if (list.some((a) => a.arm_id === template.arm_id)) continue;
      list.push(priorArm({ ...template, params: copyJson(template.params) }));
    }
    this.arms.set(key(userId, agentType), list);
  }

  async createDecision(args: Parameters<RuntimeStorage["createDecision"]>[0]): Promise<string> {
    this.counter += 1;
    const id = `dec_${Date.now().toString(36)}_${this.counter.toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
    this.decisions.set(id, {
      decision_id: id,
      user_id: args.userId,
      agent_type: args.agentType,
      arm_id: args.armPulled,
      params: copyJson(args.strategyParams),
      selection_probability: args.selectionProbability,
      arms_snapshot: copyJson(args.armsSnapshot),
      created_at: new Date().toISOString(),
      context: copyJson(args.metadata),
      reward: null,
      engagement: null,
      grading: null,
      rewarded_at: null,
      reward_source: null,
    });
    if (args.features) this.features.set(id, copyJson(args.features));
    return id;
  }

  async updatePerformance(args: Parameters<RuntimeStorage["updatePerformance"]>[0]): Promise<{ success: boolean }> {
    const decision = this.decisions.get(args.decisionId);
    const arm = this.arms.get(key(args.userId, args.agentType))?.find((a) => a.arm_id === decision?.arm_id);
    if (!decision || !arm) return { success: false };
    Object.assign(decision, {
      reward: args.reward,
      engagement: args.engagement,
      grading: args.grading,
      rewarded_at: new Date().toISOString(),
      reward_source: args.source,
    });
    const before = storedLearning(arm, 0);
    applyUpdate(arm, args.computedUpdate);
    this.addToPopulation(args.agentType, arm.arm_id, contribution(before, -1));
    this.addToPopulation(args.agentType, arm.arm_id, contribution(storedLearning(arm, 0), 1));
    const features = this.features.get(args.decisionId);
    if (features) {
      this.context.add(args.agentType, arm.arm_id, features, args.reward);
      this.features.delete(args.decisionId);
    }
    return { success: true };
  }

  async getDecision({ decisionId }: { userId: string; decisionId: string }): Promise<RuntimeDecision | null> {
    const decision = this.decisions.get(decisionId);
    return decision ? copyJson(decision) : null;
  }

  private addToPopulation(agentType: string, armId: string, terms: Contribution): void {
    const k = JSON.stringify([agentType, armId]);
    const sums = this.population.get(k) ?? { users: 0, n: 0, sum: 0, sum_sq: 0, user_sum_sq: 0, user_n_sq: 0 };
    for (const field of Object.keys(sums) as (keyof Contribution)[]) sums[field] += terms[field];
    this.population.set(k, sums);
  }

  async populationStats(): Promise<Population> {
    const population: Population = { computed_at: new Date().toISOString(), agent_types: {} };
    for (const [k, sums] of this.population) {
      if (!(sums.users > 0)) continue;
      const [agentType, armId] = JSON.parse(k) as [string, string];
      // Sums taken apart and put together again drift by rounding: never below zero.
      const stats = Object.fromEntries(Object.entries(sums).map(([f, v]) => [f, Math.max(0, v)])) as ArmPopulation;
      setArmPopulation(population.agent_types, agentType, armId, stats);
    }
    return population;
  }

  async contextStats(): Promise<ContextStats> {
    return this.context.stats();
  }
}
