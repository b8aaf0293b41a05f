/**
 * ArmsObject: the arms and decisions of one (system, agent type, user), in SQLite. One writer per key, so select
 * and update never lose an update. Decisions and rewards the log has not taken yet (the outbox, see arms-schema.ts)
 * go from the alarm, never per request, to the user's decision log shard (decision-log-shard.ts), which writes many
 * users' rows to D1 in one batch; the outbox moves on only once the shard has them, so a failed hand-over is
 * retried with the outbox as it was. The alarm also applies a system's default_reward to decisions left without a
 * reward for reward_timeout_seconds, and prunes decisions older than the system's retention once they are handed on.
 */
import { DurableObject } from "cloudflare:workers";
import { ofAgentType } from "../../src/bandit/arm-records.js";
import { modelOfAgentType } from "../../src/bandit/contextual.js";
import { type JsonText, toJsonText } from "../../src/json.js";
import { RuntimeManager } from "../../src/runtime/manager.js";
import { MemoryRuntimeStorage } from "../../src/runtime/memory-storage.js";
import {
  type ArmView,
  DEFAULT_RETENTION_DAYS,
  type RuntimeDecision,
  type RuntimeSelection,
  type SelectRequest,
  type UpdateRequest,
  type UpdateResult,
} from "../../src/runtime/schema.js";
import type { DecisionRow } from "../db/decisions";
import { DEFAULT_LOG_DATABASE } from "../db/log-database";
import type { SystemSnapshot } from "../db/systems";

/** A system as the worker names it to an ArmsObject: the config travels only when the object lacks that version. */
export type SystemRef = Pick<SystemSnapshot, "name" | "version"> & Partial<Pick<SystemSnapshot, "config" | "updated_at">>;

import type { Env } from "../env";
import { migrateArms } from "./arms-schema";
import { logShardName } from "./log-shards";
import { readMeta, writeMeta } from "./schema";
import { type DecisionRecordRow, type Identity, SqlRuntimeStorage } from "./sql-storage";

/** How long decisions wait in the outbox before the hand-over: a user's burst goes as one call. */
const FLUSH_DELAY_MS = 2000;
const FLUSH_BATCH = 200;
const MAX_BATCHES_PER_ALARM = 10;
const DAY_MS = 86_400_000;
const HAND_OVER_RETRY_MS = 30_000;

export class ArmsObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private alarmAt: number | null | undefined;
  // What SQLite holds, kept in memory: this object is the only writer.
  private identityCache: Identity | null | undefined;
  private storage: SqlRuntimeStorage | null = null;
  private current: { version: number; manager: RuntimeManager; system: SystemSnapshot } | null = null;
  /** Whether the user's log shard knows this object (meta `registered`), kept in memory after the first read. */
  private registered: boolean | undefined;

  private schemaReady = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
  }

  /** Whether this object has ever held data: reads of an unknown user must not create it. */
  private exists(): boolean {
    if (!this.schemaReady) {
      this.schemaReady = this.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").toArray().length > 0;
      if (this.schemaReady) migrateArms(this.ctx.storage);
    }
    return this.schemaReady;
  }

  private ensureSchema(): void {
    if (this.exists()) return;
    migrateArms(this.ctx.storage);
    this.schemaReady = true;
  }

  private meta(key: string): string | null {
    return this.exists() ? readMeta(this.sql, key) : null;
  }

  private setMeta(key: string, value: string): void {
    writeMeta(this.sql, key, value);
  }

  private identity(): Identity | null {
    if (this.identityCache === undefined) {
      const raw = this.meta("identity");
      this.identityCache = raw ? (JSON.parse(raw) as Identity) : null;
    }
    return this.identityCache;
  }

  /**
   * Remember who this object is and the latest system config (the alarm needs both, without a request). The
   * worker sends the config only when this object does not have that version yet: null asks for it.
   */
  private bind(ref: SystemRef, agentType: string, userId: string): RuntimeManager | null {
    this.ensureSchema();
    let identity = this.identity();
    if (!identity) {
      identity = { system: ref.name, agentType, userId };
      this.setMeta("identity", JSON.stringify(identity));
      this.identityCache = identity;
    }
    if (identity.system !== ref.name || identity.agentType !== agentType || identity.userId !== userId) {
      throw new Error(`arms object of ${JSON.stringify(identity)} reached for ${JSON.stringify([ref.name, agentType, userId])}`);
    }
    const stored = Number(this.meta("system_version") ?? -1);
    // A worker whose cache is older than what this object has seen must not roll the config back.
    const wanted = Math.max(ref.version, stored);
    if (this.current?.version !== wanted) {
      let system: SystemSnapshot | null = null;
      if (wanted === stored) system = JSON.parse(this.meta("system") as string) as SystemSnapshot;
      else if (ref.config) system = ownPopulation(ref as SystemSnapshot, agentType);
      if (!system) return null;
      if (stored !== system.version) {
        this.setMeta("system", JSON.stringify(system));
        this.setMeta("system_version", String(system.version));
      }
      this.current = { version: system.version, manager: this.manager(system, identity), system };
    }
    return this.current.manager;
  }

  private manager(system: SystemSnapshot, identity: Identity): RuntimeManager {
    this.storage ??= new SqlRuntimeStorage(this.sql, identity);
    return new RuntimeManager(system.name, system.config, this.storage, {
      population: system.population ?? null,
      contextModel: system.context_model ?? null,
    });
  }

  private async scheduleAlarm(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt === null || at < this.alarmAt) {
      await this.ctx.storage.setAlarm(at);
      this.alarmAt = at;
    }
  }

  /** The selection as JSON text (the worker passes it through), or null when the worker must send the config. */
  async select(ref: SystemRef, request: SelectRequest & { agent_type: string }): Promise<JsonText<RuntimeSelection> | null> {
    const manager = this.bind(ref, request.agent_type, request.user_id);
    if (!manager) return null;
    await this.register();
    const selection = await manager.select(request);
    if (selection.decision_id) await this.scheduleAlarm(Date.now() + FLUSH_DELAY_MS);
    return toJsonText(selection);
  }

  /**
   * Tell the user's log shard that this object exists, once, before its first answer: forgetting the user then
   * finds it even before any of its decisions reached the shard or D1.
   */
  private async register(): Promise<void> {
    const identity = this.identity();
    this.registered ??= this.meta("registered") === "1";
    if (!identity || this.registered) return;
    await this.shardOf(identity, this.current?.system ?? null).stub.registerAgentType(identity.userId, identity.agentType);
    this.setMeta("registered", "1");
    this.registered = true;
  }

  /** The log shard of this user, in the database of the system's log. */
  private shardOf(identity: Identity, system: SystemSnapshot | null) {
    const database = system?.log_database ?? DEFAULT_LOG_DATABASE;
    return { database, stub: this.env.LOG_SHARDS.getByName(logShardName(database, identity.system, identity.userId)) };
  }

  async update(ref: SystemRef, request: UpdateRequest & { agent_type: string }): Promise<UpdateResult | null> {
    // A user this object has never served has no decisions: answer without creating anything.
    if (!this.identity()) return notFound(`Decision ${JSON.stringify(request.decision_id)} not found or missing arm_id`);
    const manager = this.bind(ref, request.agent_type, request.user_id);
    if (!manager) return null;
    // A decision past the system's retention may still be here (pruned by the alarm): its reward would reach
    // the user's arms but neither the log nor its totals, so it is not taken.
    const retentionDays = retentionDaysOf(this.current?.system ?? null);
    const madeAt = this.storage?.unrewardedCreatedAt(request.decision_id) ?? null;
    if (madeAt !== null && madeAt < Date.now() - retentionDays * DAY_MS) {
      return notFound(
        `Decision ${request.decision_id} is older than the system's decision_retention_days (${retentionDays}): its reward is no longer taken`,
      );
    }
    const result = await manager.update(request);
    if (result.success && !result.duplicate) await this.scheduleAlarm(Date.now() + FLUSH_DELAY_MS);
    return result;
  }

  async getDecision(userId: string, decisionId: string): Promise<RuntimeDecision | null> {
    const identity = this.identity();
    if (!identity || identity.userId !== userId) return null;
    this.storage ??= new SqlRuntimeStorage(this.sql, identity);
    return this.storage.getDecision({ userId, decisionId });
  }

  async arms(system: SystemSnapshot, agentType: string, userId: string): Promise<ArmView[]> {
    const identity = this.identity();
    // A user not met yet sees the system's arms at their prior, and nothing is stored for the asking.
    if (!identity) {
      return new RuntimeManager(system.name, system.config, new MemoryRuntimeStorage(), { population: system.population ?? null }).arms({
        userId,
        agentType,
      });
    }
    return this.manager(system, identity).arms({ userId, agentType });
  }

  /**
   * Forget this user (DELETE /v1/systems/{system}/users/{user_id}): say what was held, then delete all of it, the
   * outbox and the alarm included. Rows already handed to the log shard or to D1 are the caller's to remove; the
   * D1 tombstone written before this call refuses any of them that a flush in flight still delivers. An object that
   * never served the user answers null and creates nothing.
   */
  async forget(): Promise<{ arms: number; decisions: number } | null> {
    if (!this.exists()) return null;
    const count = (table: string) => this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n as number;
    const held = { arms: count("arms"), decisions: count("decisions") };
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    // What memory holds mirrors what was deleted: a later select must start as for a user never met.
    this.schemaReady = false;
    this.identityCache = undefined;
    this.storage = null;
    this.current = null;
    this.registered = undefined;
    this.alarmAt = undefined;
    return held;
  }

  private flushedSeq(): number {
    return Number(this.meta("flushed_seq") ?? 0);
  }

  /** Rows still waiting for D1 (tests read this). */
  async pendingFlush(): Promise<number> {
    if (!this.exists()) return 0;
    const fresh = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM decisions WHERE seq > ?", this.flushedSeq()).one().n as number;
    const rewarded = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM rewarded").one().n as number;
    return fresh + rewarded;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const identity = this.identity();
    if (!identity) return;
    const systemText = this.meta("system");
    const system = systemText ? (JSON.parse(systemText) as SystemSnapshot) : null;
    const now = Date.now();
    if (system) await this.applyDefaultRewards(system, identity, now);
    try {
      await this.flush(identity, system);
    } catch (error) {
      // The user was forgotten while the hand-over waited on the shard: there is nothing left to hand over.
      if (!this.exists()) return;
      // The outbox stays as it was; tried again later by this object's own alarm rather than the platform's few
      // retries, so a long D1 outage (a full shard) delays the log and never ends it.
      console.error(`arms object of ${identity.system}: hand-over to the decision log failed`, error);
      return this.scheduleAlarm(now + HAND_OVER_RETRY_MS);
    }
    // Kept for duplicate detection and late rewards as long as the log keeps them (a reward after that would
    // reach neither the log nor its rollups). The newest row stays, whatever its age: row numbers continue from
    // it, so the outbox mark stays valid.
    const retentionDays = retentionDaysOf(system);
    this.sql.exec(
      `DELETE FROM decisions WHERE created_at < ? AND seq <= ? AND seq NOT IN (SELECT seq FROM rewarded)
       AND seq < (SELECT MAX(seq) FROM decisions)`,
      now - retentionDays * DAY_MS,
      this.flushedSeq(),
    );
    await this.rescheduleAfterAlarm(system, now);
  }

  private async applyDefaultRewards(system: SystemSnapshot, identity: Identity, now: number): Promise<void> {
    const { default_reward, reward_timeout_seconds } = system.config;
    if (default_reward === null || reward_timeout_seconds === null) return;
    const due = this.sql
      .exec<{ seq: number; decision_id: string }>(
        "SELECT seq, decision_id FROM decisions WHERE reward IS NULL AND created_at <= ? ORDER BY seq",
        now - reward_timeout_seconds * 1000,
      )
      .toArray();
    const manager = this.current?.version === system.version ? this.current.manager : this.manager(system, identity);
    for (const { seq, decision_id } of due) {
      const result = await manager.update(
        { user_id: identity.userId, decision_id, agent_type: identity.agentType, reward: default_reward },
        "default",
      );
      if (!result.success) {
        // Its arm is gone: close the decision anyway, or the alarm would come back for it forever.
        this.sql.exec(
          "UPDATE decisions SET reward = ?, engagement = ?, reward_source = 'default', rewarded_at = ? WHERE seq = ?",
          default_reward,
          default_reward,
          now,
          seq,
        );
        this.sql.exec("INSERT OR IGNORE INTO rewarded (seq) VALUES (?)", seq);
      }
    }
  }

  private async flush(identity: Identity, system: SystemSnapshot | null): Promise<void> {
    const { database, stub: shard } = this.shardOf(identity, system);
    for (let batch = 0; batch < MAX_BATCHES_PER_ALARM; batch++) {
      const fresh = this.sql
        .exec<DecisionRecordRow>("SELECT * FROM decisions WHERE seq > ? ORDER BY seq LIMIT ?", this.flushedSeq(), FLUSH_BATCH)
        .toArray();
      const rewarded = this.sql
        .exec<DecisionRecordRow>("SELECT d.* FROM rewarded r JOIN decisions d ON d.seq = r.seq ORDER BY r.seq LIMIT ?", FLUSH_BATCH)
        .toArray();
      if (fresh.length === 0 && rewarded.length === 0) return;
      await shard.append(
        { database, system: identity.system },
        [...fresh, ...rewarded].map((row) => toDecisionRow(row, identity)),
      );
      if (fresh.length > 0) this.setMeta("flushed_seq", String((fresh[fresh.length - 1] as DecisionRecordRow).seq));
      for (const row of rewarded) this.sql.exec("DELETE FROM rewarded WHERE seq = ?", row.seq);
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
    // Stored as the JSON text D1 keeps (or null for an empty context).
    context: row.context ?? "{}",
    created_at: new Date(row.created_at).toISOString(),
    reward: row.reward,
    engagement: row.engagement,
    grading: row.grading,
    reward_source: row.reward_source,
    rewarded_at: row.rewarded_at === null ? null : new Date(row.rewarded_at).toISOString(),
    update_metadata: row.update_metadata,
    // Passed through in the object's compact form: no parse and serialize per decision in the flush.
    arms_snapshot: row.snapshot,
    unit_new: row.unit_new,
    unit_sum_sq: row.unit_sum_sq,
    unit_n_sq: row.unit_n_sq,
    features: row.features,
  };
}

/** The snapshot as one user's object keeps it: of the population and the context model, only its own agent type is ever read. */
function ownPopulation(system: SystemSnapshot, agentType: string): SystemSnapshot {
  const { population, context_model } = system;
  return {
    ...system,
    population: population ? { ...population, agent_types: ofAgentType(population.agent_types, agentType) } : null,
    context_model: context_model ? modelOfAgentType(context_model, agentType) : null,
  };
}

/** The system's retention (a snapshot stored before the setting existed has none: the default). */
function retentionDaysOf(system: SystemSnapshot | null): number {
  return system?.config.decision_retention_days ?? DEFAULT_RETENTION_DAYS;
}

function notFound(error: string): UpdateResult {
  return {
    success: false,
    code: "decision_not_found",
    error,
    reward: 0,
    engagement_score: 0,
    grading_score: null,
    computed_update: null,
    duplicate: false,
  };
}
