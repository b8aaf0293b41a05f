/**
 * ArmsObject: the arms and decisions of one (system, agent type, user), in SQLite. One writer per key, so select
 * and update never lose an update. Every decision and reward also goes to an outbox, which the alarm flushes to
 * D1 in batched statements (never per request); a failed flush throws, and the alarm is retried with its rows
 * still in the outbox. The alarm also applies a system's default_reward to decisions left without a reward for
 * reward_timeout_seconds, and prunes old decisions once they are in D1.
 */
import { DurableObject } from "cloudflare:workers";
import { RuntimeManager } from "../../src/runtime/manager.js";
import type { ArmView, RuntimeDecision, RuntimeSelection, SelectRequest, UpdateRequest, UpdateResult } from "../../src/runtime/schema.js";
import type { DecisionRow } from "../db/decisions";
import { writeDecisions } from "../db/decisions";
import type { SystemSnapshot } from "../db/systems";
import type { Env } from "../env";
import { migrate } from "./arms-schema";
import { type DecisionRecordRow, type Identity, SqlRuntimeStorage, toDecision } from "./sql-storage";

/** How long decisions wait in the outbox before a flush: batches instead of a D1 write per request. */
export const FLUSH_DELAY_MS = 1000;
const FLUSH_BATCH = 50;
const MAX_BATCHES_PER_ALARM = 40;
/** Decisions are kept here this long (for duplicate detection and late rewards), then only in D1. */
export const RETENTION_MS = 30 * 24 * 3600 * 1000;

export class ArmsObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private alarmAt: number | null | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx.storage);
  }

  private meta(key: string): string | null {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value);
  }

  private identity(): Identity | null {
    const raw = this.meta("identity");
    return raw ? (JSON.parse(raw) as Identity) : null;
  }

  /** Remember who this object is and the latest system config (the alarm needs both, without a request). */
  private bind(system: SystemSnapshot, agentType: string, userId: string): Identity {
    const identity = this.identity() ?? { system: system.name, agentType, userId };
    if (!this.meta("identity")) this.setMeta("identity", JSON.stringify(identity));
    if (identity.system !== system.name || identity.agentType !== agentType || identity.userId !== userId) {
      throw new Error(`arms object of ${JSON.stringify(identity)} reached for ${JSON.stringify([system.name, agentType, userId])}`);
    }
    if (Number(this.meta("system_version") ?? -1) !== system.version) {
      this.setMeta("system", JSON.stringify(system));
      this.setMeta("system_version", String(system.version));
    }
    return identity;
  }

  private manager(system: SystemSnapshot, identity: Identity): RuntimeManager {
    return new RuntimeManager(system.name, system.config, new SqlRuntimeStorage(this.sql, identity));
  }

  private async scheduleAlarm(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt === null || at < this.alarmAt) {
      await this.ctx.storage.setAlarm(at);
      this.alarmAt = at;
    }
  }

  async select(system: SystemSnapshot, request: SelectRequest & { agent_type: string }): Promise<RuntimeSelection> {
    const identity = this.bind(system, request.agent_type, request.user_id);
    const selection = await this.manager(system, identity).select(request);
    if (selection.decision_id) await this.scheduleAlarm(Date.now() + FLUSH_DELAY_MS);
    return selection;
  }

  async update(system: SystemSnapshot, request: UpdateRequest & { agent_type: string }): Promise<UpdateResult> {
    const identity = this.bind(system, request.agent_type, request.user_id);
    const result = await this.manager(system, identity).update(request);
    if (result.success && !result.duplicate) await this.scheduleAlarm(Date.now() + FLUSH_DELAY_MS);
    return result;
  }

  async getDecision(userId: string, decisionId: string): Promise<RuntimeDecision | null> {
    const identity = this.identity();
    if (!identity || identity.userId !== userId) return null;
    const row = this.sql.exec<DecisionRecordRow>("SELECT * FROM decisions WHERE decision_id = ?", decisionId).toArray()[0];
    return row ? toDecision(row, identity) : null;
  }

  async arms(system: SystemSnapshot, agentType: string, userId: string): Promise<ArmView[]> {
    const identity = this.identity() ?? { system: system.name, agentType, userId };
    return this.manager(system, identity).arms({ userId, agentType });
  }

  /** Rows still waiting for D1 (tests and the bench read this). */
  async pendingFlush(): Promise<number> {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n as number;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const identity = this.identity();
    if (!identity) return;
    const systemText = this.meta("system");
    const system = systemText ? (JSON.parse(systemText) as SystemSnapshot) : null;
    const now = Date.now();
    if (system) await this.applyDefaultRewards(system, identity, now);
    await this.flush(identity);
    this.sql.exec("DELETE FROM decisions WHERE created_at < ? AND decision_id NOT IN (SELECT decision_id FROM outbox)", now - RETENTION_MS);
    await this.rescheduleAfterAlarm(system, now);
  }

  private async applyDefaultRewards(system: SystemSnapshot, identity: Identity, now: number): Promise<void> {
    const { default_reward, reward_timeout_seconds } = system.config;
    if (default_reward === null || reward_timeout_seconds === null) return;
    const due = this.sql
      .exec<{ decision_id: string }>(
        "SELECT decision_id FROM decisions WHERE reward IS NULL AND created_at <= ? ORDER BY created_at",
        now - reward_timeout_seconds * 1000,
      )
      .toArray();
    const manager = this.manager(system, identity);
    for (const { decision_id } of due) {
      await manager.update({ user_id: identity.userId, decision_id, agent_type: identity.agentType, reward: default_reward }, "default");
    }
  }

  private async flush(identity: Identity): Promise<void> {
    for (let batch = 0; batch < MAX_BATCHES_PER_ALARM; batch++) {
      const pending = this.sql
        .exec<{ seq: number; decision_id: string }>("SELECT seq, decision_id FROM outbox ORDER BY seq LIMIT ?", FLUSH_BATCH)
        .toArray();
      if (pending.length === 0) return;
      const ids = [...new Set(pending.map((p) => p.decision_id))];
      const rows = ids
        .map((id) => this.sql.exec<DecisionRecordRow>("SELECT * FROM decisions WHERE decision_id = ?", id).toArray()[0])
        .filter((row): row is DecisionRecordRow => row !== undefined)
        .map((row) => toDecisionRow(row, identity));
      await writeDecisions(this.env.DB, rows);
      this.sql.exec("DELETE FROM outbox WHERE seq <= ?", (pending[pending.length - 1] as { seq: number }).seq);
    }
  }

  private async rescheduleAfterAlarm(system: SystemSnapshot | null, now: number): Promise<void> {
    if ((await this.pendingFlush()) > 0) return this.scheduleAlarm(now + 100);
    const timeout = system?.config.reward_timeout_seconds;
    if (system?.config.default_reward === null || !timeout) return;
    const oldest = this.sql.exec<{ t: number | null }>("SELECT MIN(created_at) AS t FROM decisions WHERE reward IS NULL").one().t;
    if (oldest !== null) await this.scheduleAlarm(Math.max(now + 100, oldest + timeout * 1000));
  }
}

function toDecisionRow(row: DecisionRecordRow, identity: Identity): DecisionRow {
  return {
    decision_id: row.decision_id,
    system: identity.system,
    agent_type: identity.agentType,
    user_id: identity.userId,
    arm_id: row.arm_id,
    params: row.params,
    selection_probability: row.selection_probability,
    context: row.context,
    created_at: new Date(row.created_at).toISOString(),
    reward: row.reward,
    engagement: row.engagement,
    grading: row.grading,
    reward_source: row.reward_source,
    rewarded_at: row.rewarded_at === null ? null : new Date(row.rewarded_at).toISOString(),
  };
}
