/** RuntimeStorage over the ArmsObject's SQLite: the same RuntimeManager as in-process, with durable state. */
import type { ArmTemplate } from "../../src/bandit/evolve.js";
import type { JsonValue } from "../../src/json.js";
import { newDecisionId } from "../../src/runtime/decision-id.js";
import type { RuntimeDecision } from "../../src/runtime/schema.js";
import type { RuntimeStorage, StoredArm } from "../../src/runtime/storage.js";

export interface Identity {
  system: string;
  agentType: string;
  userId: string;
}

interface ArmRow extends Record<string, SqlStorageValue> {
  arm_id: string;
  name: string | null;
  params: string;
  alpha: number;
  beta: number;
  total_pulls: number;
  total_reward: number;
  avg_reward: number | null;
  mean_estimate: number | null;
  metadata: string;
}

export interface DecisionRecordRow extends Record<string, SqlStorageValue> {
  decision_id: string;
  arm_id: string;
  params: string;
  selection_probability: number | null;
  arms_snapshot: string;
  context: string;
  created_at: number;
  reward: number | null;
  engagement: number | null;
  grading: number | null;
  reward_source: string | null;
  rewarded_at: number | null;
}

export class SqlRuntimeStorage implements RuntimeStorage {
  constructor(
    private readonly sql: SqlStorage,
    private readonly identity: Identity,
    private readonly now: () => number = Date.now,
  ) {}

  /** This object holds one (system, agent type, user): anything else is a routing bug. */
  private check(userId: string, agentType?: string): void {
    if (userId !== this.identity.userId || (agentType !== undefined && agentType !== this.identity.agentType)) {
      throw new Error(`arms object of ${JSON.stringify(this.identity)} asked about ${JSON.stringify([agentType, userId])}`);
    }
  }

  async getArms({ userId, agentType }: { userId: string; agentType: string }): Promise<StoredArm[]> {
    this.check(userId, agentType);
    return this.sql
      .exec<ArmRow>("SELECT * FROM arms ORDER BY position")
      .toArray()
      .map((row) => ({
        arm_id: row.arm_id,
        name: row.name,
        params: JSON.parse(row.params),
        alpha: row.alpha,
        beta: row.beta,
        total_pulls: row.total_pulls,
        total_reward: row.total_reward,
        avg_reward: row.avg_reward,
        mean_estimate: row.mean_estimate,
        metadata: JSON.parse(row.metadata),
      }));
  }

  async initializeArms({ userId, agentType, arms }: { userId: string; agentType: string; arms: ArmTemplate[] }): Promise<void> {
    this.check(userId, agentType);
    const next = (this.sql.exec<{ n: number }>("SELECT COALESCE(MAX(position), -1) + 1 AS n FROM arms").one().n as number) ?? 0;
    arms.forEach((arm, i) => {
      this.sql.exec(
        `INSERT INTO arms (arm_id, name, params, alpha, beta, total_pulls, total_reward, avg_reward, mean_estimate, metadata, position)
         VALUES (?, ?, ?, 1, 1, 0, 0, NULL, NULL, '{}', ?) ON CONFLICT(arm_id) DO NOTHING`,
        arm.arm_id,
        arm.name ?? null,
        JSON.stringify(arm.params),
        next + i,
      );
    });
  }

  async createDecision(args: Parameters<RuntimeStorage["createDecision"]>[0]): Promise<string> {
    this.check(args.userId, args.agentType);
    const id = newDecisionId(this.identity.system, this.identity.agentType, this.identity.userId);
    this.sql.exec(
      `INSERT INTO decisions (decision_id, arm_id, params, selection_probability, arms_snapshot, context, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      id,
      args.armPulled,
      JSON.stringify(args.strategyParams),
      args.selectionProbability,
      JSON.stringify(args.armsSnapshot),
      JSON.stringify(args.metadata),
      this.now(),
    );
    this.sql.exec("INSERT INTO outbox (decision_id) VALUES (?)", id);
    return id;
  }

  async updatePerformance(args: Parameters<RuntimeStorage["updatePerformance"]>[0]): Promise<{ success: boolean }> {
    this.check(args.userId, args.agentType);
    const decision = this.sql.exec<{ arm_id: string }>("SELECT arm_id FROM decisions WHERE decision_id = ?", args.decisionId).toArray()[0];
    if (!decision) return { success: false };
    const u = args.computedUpdate;
    this.sql.exec(
      `UPDATE decisions SET reward = ?, engagement = ?, grading = ?, reward_source = ?, rewarded_at = ?, update_metadata = ?
       WHERE decision_id = ? AND reward IS NULL`,
      args.reward,
      args.engagement,
      args.grading,
      args.source,
      this.now(),
      JSON.stringify(args.metadata),
      args.decisionId,
    );
    this.sql.exec(
      `UPDATE arms SET alpha = ?, beta = ?, total_pulls = ?, total_reward = ?, avg_reward = ?, mean_estimate = ?,
       metadata = json_set(metadata, '$.confidence_interval', json(?)) WHERE arm_id = ?`,
      u.alpha,
      u.beta,
      u.total_pulls,
      u.total_reward,
      u.avg_reward,
      u.mean_estimate,
      JSON.stringify(u.confidence_interval),
      decision.arm_id,
    );
    this.sql.exec("INSERT INTO outbox (decision_id) VALUES (?)", args.decisionId);
    return { success: true };
  }

  async getDecision({ userId, decisionId }: { userId: string; decisionId: string }): Promise<RuntimeDecision | null> {
    if (userId !== this.identity.userId) return null;
    const row = this.sql.exec<DecisionRecordRow>("SELECT * FROM decisions WHERE decision_id = ?", decisionId).toArray()[0];
    return row ? toDecision(row, this.identity) : null;
  }
}

export function toDecision(row: DecisionRecordRow, identity: Identity): RuntimeDecision {
  return {
    decision_id: row.decision_id,
    user_id: identity.userId,
    agent_type: identity.agentType,
    arm_id: row.arm_id,
    params: JSON.parse(row.params) as Record<string, JsonValue>,
    selection_probability: row.selection_probability,
    arms_snapshot: JSON.parse(row.arms_snapshot),
    created_at: row.created_at,
    context: JSON.parse(row.context),
    reward: row.reward,
    engagement: row.engagement,
    grading: row.grading,
    rewarded_at: row.rewarded_at,
    reward_source: row.reward_source as RuntimeDecision["reward_source"],
  };
}
