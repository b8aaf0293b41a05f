/** RuntimeStorage over the ArmsObject's SQLite: the same RuntimeManager as in-process, with durable state. */
import type { JsonValue } from "../../src/json.js";
import { newDecisionId, parseDecisionId, randomToken } from "../../src/runtime/decision-id.js";
import type { ArmTemplate, RuntimeDecision } from "../../src/runtime/schema.js";
import { applyUpdate, priorArm, type RuntimeStorage, type StoredArm } from "../../src/runtime/storage.js";

export interface Identity {
  system: string;
  agentType: string;
  userId: string;
}

/** A StoredArm as its SQLite row holds it: params and metadata as JSON text. */
type ArmRow = Omit<StoredArm, "params" | "metadata"> & { params: string; metadata: string } & Record<string, SqlStorageValue>;

export interface DecisionRecordRow extends Record<string, SqlStorageValue> {
  seq: number;
  decision_id: string;
  arm_id: string;
  params: string;
  selection_probability: number | null;
  snapshot: string;
  context: string | null;
  created_at: number;
  reward: number | null;
  engagement: number | null;
  grading: number | null;
  reward_source: string | null;
  rewarded_at: number | null;
  update_metadata: string | null;
  unit_new: number | null;
  unit_sum_sq: number | null;
  unit_n_sq: number | null;
  features: string | null;
}

const DAY_MS = 86_400_000;

export class SqlRuntimeStorage implements RuntimeStorage {
  /** The object is the only writer of its arms: they are read from SQLite once and kept in memory, written through. */
  private cache: StoredArm[] | null = null;
  private lastSeq: number | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly identity: Identity,
    private readonly now: () => number = Date.now,
  ) {}

  private nextSeq(): number {
    // Never below the flushed mark, so a new decision is never taken for one D1 already has.
    this.lastSeq ??= Math.max(
      (this.sql.exec<{ s: number }>("SELECT COALESCE(MAX(seq), 0) AS s FROM decisions").one().s as number) ?? 0,
      Number(this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'flushed_seq'").toArray()[0]?.value ?? 0),
    );
    this.lastSeq += 1;
    return this.lastSeq;
  }

  /** The row of a decision id, or null: the id's key is `{row number in base 36}-{random}`. */
  private row(decisionId: string): DecisionRecordRow | null {
    const key = parseDecisionId(decisionId)?.key;
    const seq = key ? Number.parseInt(key.split("-")[0] ?? "", 36) : Number.NaN;
    if (!Number.isSafeInteger(seq)) return null;
    return (
      this.sql.exec<DecisionRecordRow>("SELECT * FROM decisions WHERE seq = ? AND decision_id = ?", seq, decisionId).toArray()[0] ?? null
    );
  }

  private load(): StoredArm[] {
    this.cache ??= this.sql
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
    return this.cache;
  }

  /** This object holds one (system, agent type, user): anything else is a routing bug. */
  private check(userId: string, agentType?: string): void {
    if (userId !== this.identity.userId || (agentType !== undefined && agentType !== this.identity.agentType)) {
      throw new Error(`arms object of ${JSON.stringify(this.identity)} asked about ${JSON.stringify([agentType, userId])}`);
    }
  }

  async getArms({ userId, agentType }: { userId: string; agentType: string }): Promise<StoredArm[]> {
    this.check(userId, agentType);
    return this.load().map((arm) => ({ ...arm }));
  }

  async initializeArms({ userId, agentType, arms }: { userId: string; agentType: string; arms: ArmTemplate[] }): Promise<void> {
    this.check(userId, agentType);
    const cached = this.load();
    const fresh = arms.filter((arm) => !cached.some((a) => a.arm_id === arm.arm_id));
    const next = (this.sql.exec<{ n: number }>("SELECT COALESCE(MAX(position), -1) + 1 AS n FROM arms").one().n as number) ?? 0;
    fresh.forEach((arm, i) => {
      cached.push(priorArm(arm));
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
    const seq = this.nextSeq();
    const id = newDecisionId(this.identity.system, this.identity.agentType, this.identity.userId, `${seq.toString(36)}-${randomToken()}`);
    const snapshot = args.armsSnapshot.map((a) => [a.arm_id, a.alpha, a.beta, a.sampled_value, a.total_pulls ?? null]);
    const context = Object.keys(args.metadata).length > 0 ? JSON.stringify(args.metadata) : null;
    this.sql.exec(
      `INSERT INTO decisions (seq, decision_id, arm_id, params, selection_probability, snapshot, context, created_at, features)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      seq,
      id,
      args.armPulled,
      JSON.stringify(args.strategyParams),
      args.selectionProbability,
      JSON.stringify(snapshot),
      context,
      this.now(),
      args.features ? JSON.stringify(args.features) : null,
    );
    return id;
  }

  async updatePerformance(args: Parameters<RuntimeStorage["updatePerformance"]>[0]): Promise<{ success: boolean }> {
    this.check(args.userId, args.agentType);
    const decision = this.row(args.decisionId);
    if (!decision) return { success: false };
    const u = args.computedUpdate;
    const unit = decision.reward === null ? this.unitChange(decision, args.reward) : null;
    this.sql.exec(
      `UPDATE decisions SET reward = ?, engagement = ?, grading = ?, reward_source = ?, rewarded_at = ?, update_metadata = ?,
         unit_new = ?, unit_sum_sq = ?, unit_n_sq = ?
       WHERE seq = ? AND reward IS NULL`,
      args.reward,
      args.engagement,
      args.grading,
      args.source,
      this.now(),
      JSON.stringify(args.metadata),
      unit?.unit_new ?? null,
      unit?.unit_sum_sq ?? null,
      unit?.unit_n_sq ?? null,
      decision.seq,
    );
    this.sql.exec("INSERT OR IGNORE INTO rewarded (seq) VALUES (?)", decision.seq);
    const arm = this.load().find((a) => a.arm_id === decision.arm_id);
    if (arm) applyUpdate(arm, u);
    this.sql.exec(
      `UPDATE arms SET alpha = ?, beta = ?, total_pulls = ?, total_reward = ?, avg_reward = ?, mean_estimate = ?,
       metadata = json_set(metadata, '$.confidence_interval', json(?), '$.learning', json(?)) WHERE arm_id = ?`,
      u.alpha,
      u.beta,
      u.total_pulls,
      u.total_reward,
      u.avg_reward,
      u.mean_estimate,
      JSON.stringify(u.confidence_interval),
      JSON.stringify(u.learning ?? null),
      decision.arm_id,
    );
    return { success: true };
  }

  /**
   * What this reward changes in its pooling unit (this user, the decision's arm, the decision's UTC day): the
   * population statistics are sums over units of count, sum, sum²/count and count² (src/bandit/pooling.ts), and
   * the log's rollups add these changes, so any window of whole days sums to the exact statistics of its units.
   */
  private unitChange(decision: DecisionRecordRow, reward: number): Pick<DecisionRecordRow, "unit_new" | "unit_sum_sq" | "unit_n_sq"> {
    const dayStart = Math.floor(decision.created_at / DAY_MS) * DAY_MS;
    const { n, s } = this.sql
      .exec<{ n: number; s: number }>(
        `SELECT COUNT(*) AS n, COALESCE(SUM(reward), 0) AS s FROM decisions
         WHERE arm_id = ? AND created_at >= ? AND created_at < ? AND reward IS NOT NULL`,
        decision.arm_id,
        dayStart,
        dayStart + DAY_MS,
      )
      .one();
    const before = n > 0 ? (s * s) / n : 0;
    return { unit_new: n === 0 ? 1 : 0, unit_sum_sq: ((s + reward) * (s + reward)) / (n + 1) - before, unit_n_sq: 2 * n + 1 };
  }

  /** When a decision without a reward was made (epoch ms); null when it is not here or already rewarded. */
  unrewardedCreatedAt(decisionId: string): number | null {
    const row = this.row(decisionId);
    return row && row.reward === null ? row.created_at : null;
  }

  async getDecision({ userId, decisionId }: { userId: string; decisionId: string }): Promise<RuntimeDecision | null> {
    if (userId !== this.identity.userId) return null;
    const row = this.row(decisionId);
    return row ? toDecision(row, this.identity, this.load()) : null;
  }
}

function toDecision(row: DecisionRecordRow, identity: Identity, arms: readonly { arm_id: string; name: string | null }[]): RuntimeDecision {
  // Rows [arm_id, alpha, beta, sampled value, pulls]; pulls are absent from rows written before they were logged.
  const snapshot = JSON.parse(row.snapshot) as [string, number, number, number, (number | null)?][];
  return {
    decision_id: row.decision_id,
    user_id: identity.userId,
    agent_type: identity.agentType,
    arm_id: row.arm_id,
    params: JSON.parse(row.params) as Record<string, JsonValue>,
    selection_probability: row.selection_probability,
    arms_snapshot: snapshot.map(([arm_id, alpha, beta, sampled_value, pulls]) => ({
      arm_id,
      name: arms.find((a) => a.arm_id === arm_id)?.name ?? null,
      alpha,
      beta,
      sampled_value,
      ...(typeof pulls === "number" ? { total_pulls: pulls } : {}),
      metadata: {},
    })),
    // Epoch milliseconds here, for the alarm's arithmetic; ISO 8601 on the wire.
    created_at: new Date(row.created_at).toISOString(),
    context: row.context ? JSON.parse(row.context) : {},
    reward: row.reward,
    engagement: row.engagement,
    grading: row.grading,
    rewarded_at: row.rewarded_at === null ? null : new Date(row.rewarded_at).toISOString(),
    reward_source: row.reward_source as RuntimeDecision["reward_source"],
  };
}
