import { addUser, armPopulationOf, type Population, setArmPopulation } from "../bandit/pooling.js";
import { storedLearning } from "../bandit/posterior.js";
import { copyJson } from "../json.js";
import type { ArmTemplate, RuntimeDecision } from "./schema.js";
import { applyUpdate, priorArm, type RuntimeStorage, type StoredArm, updatesOf } from "./storage.js";

const key = (userId: string, agentType: string) => JSON.stringify([userId, agentType]);

/** In-memory RuntimeStorage, for tests, scripts and single-process apps. Nothing survives the process. */
export class MemoryRuntimeStorage implements RuntimeStorage {
  private readonly arms = new Map<string, StoredArm[]>();
  private readonly decisions = new Map<string, RuntimeDecision>();
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
    applyUpdate(arm, args.computedUpdate);
    return { success: true };
  }

  async getDecision({ decisionId }: { userId: string; decisionId: string }): Promise<RuntimeDecision | null> {
    const decision = this.decisions.get(decisionId);
    return decision ? copyJson(decision) : null;
  }

  async populationStats(): Promise<Population> {
    const population: Population = { computed_at: new Date().toISOString(), agent_types: {} };
    for (const [k, arms] of this.arms) {
      const [, agentType] = JSON.parse(k) as [string, string];
      const now = updatesOf(arms);
      for (const arm of arms) {
        const previous = armPopulationOf(population, agentType, arm.arm_id);
        setArmPopulation(population.agent_types, agentType, arm.arm_id, addUser(previous, storedLearning(arm, now)));
      }
    }
    return population;
  }
}
