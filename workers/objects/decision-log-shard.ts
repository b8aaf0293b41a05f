/**
 * DecisionLogShard: where decisions and rewards of many users meet on their way to D1. Each user's ArmsObject
 * hands its outbox to one of a system's LOG_SHARDS shards (by a hash of the user), and the shard writes what it
 * holds to D1 in one batch call per FLUSH_ROWS rows, so D1 write calls per decision fall as load rises, where one
 * call per user's flush grew with the number of users.
 *
 * Nothing is lost or applied twice: a row is kept in SQLite until the D1 batch that carries it has succeeded; a
 * later version of a row (its reward) replaces the one waiting, and a row that changed while its batch was in
 * flight stays for the next; D1's upsert is idempotent by decision id and writes a reward once.
 *
 * Each shard counts what it costs D1 (its batch calls and the rows they carried) and how long rows took to get
 * there, kept with its data so a restart loses nothing; `GET /v1/systems/{system}/log` adds a system's shards up.
 */
import { DurableObject } from "cloudflare:workers";
import type { DecisionRow } from "../db/decisions";
import { writeDecisions } from "../db/decisions";
import { logDatabaseNamed } from "../db/log-database";
import type { Env } from "../env";
import { LATENCY_BOUNDS_MS, latencyBucket, type ShardStats } from "./log-shards";
import { migrate, readMeta, writeMeta } from "./schema";

/** Rows per D1 batch call, and the count that flushes at once rather than after FLUSH_DELAY_MS. */
const FLUSH_ROWS = 200;
/** The longest a row waits for company; with the ArmsObject's own delay a decision reaches D1 within 15 s. */
const FLUSH_DELAY_MS = 8000;
// 4 x 200 statements: under the 1,000 D1 queries one invocation may make, if each statement of a batch counts.
const MAX_BATCHES_PER_ALARM = 4;
/** A shard holds at most this many rows: past it, appends are refused and users' objects keep their outboxes. */
const MAX_PENDING = 100_000;
const RETRY_MS = [1000, 5000, 15_000, 60_000];

const STEPS: readonly string[] = [
  `CREATE TABLE pending (
     decision_id TEXT PRIMARY KEY,
     row TEXT NOT NULL,
     rewarded INTEGER NOT NULL,
     version INTEGER NOT NULL,
     queued_at INTEGER NOT NULL
   );
   CREATE INDEX pending_by_age ON pending (queued_at);`,
  // Every agent type each user of this shard has an arms object of, from that object's first select: forgetting a
  // user finds them all, even one whose decisions have reached neither this shard nor D1.
  `CREATE TABLE user_agent_types (user_id TEXT NOT NULL, agent_type TEXT NOT NULL, PRIMARY KEY (user_id, agent_type));`,
];

/** Who a shard serves: the D1 binding and the system, fixed by its name. */
export interface ShardIdentity {
  database: string;
  system: string;
}

export class DecisionLogShard extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private alarmAt: number | null | undefined;
  private failures = 0;
  private statsCache: Omit<ShardStats, "pending"> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx.storage, STEPS);
  }

  private pendingCount(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM pending").one().n;
  }

  /** Take rows from a user's outbox. Returns once they are durable here; throws when the shard is full. */
  async append(identity: ShardIdentity, rows: readonly DecisionRow[]): Promise<void> {
    if (rows.length === 0) return;
    if (!readMeta(this.sql, "identity")) writeMeta(this.sql, "identity", JSON.stringify(identity));
    if (this.pendingCount() + rows.length > MAX_PENDING) {
      throw new Error(`decision log shard of ${identity.system} holds ${MAX_PENDING} rows: D1 is not keeping up`);
    }
    const now = Date.now();
    for (const row of rows) {
      // A version without a reward never replaces one with it (a resend that crossed the reward).
      this.sql.exec(
        `INSERT INTO pending (decision_id, row, rewarded, version, queued_at) VALUES (?1, ?2, ?3, 1, ?4)
         ON CONFLICT(decision_id) DO UPDATE SET row = excluded.row, rewarded = excluded.rewarded, version = pending.version + 1
         WHERE excluded.rewarded >= pending.rewarded`,
        row.decision_id,
        JSON.stringify(row),
        row.reward === null ? 0 : 1,
        now,
      );
    }
    await this.schedule(this.pendingCount() >= FLUSH_ROWS ? now : now + FLUSH_DELAY_MS);
  }

  /** Rows waiting for D1 (tests and the bench read this). */
  async pending(): Promise<number> {
    return this.pendingCount();
  }

  private counters(): Omit<ShardStats, "pending"> {
    if (!this.statsCache) {
      const raw = readMeta(this.sql, "stats");
      this.statsCache = raw
        ? (JSON.parse(raw) as Omit<ShardStats, "pending">)
        : {
            d1_batches: 0,
            d1_failed_batches: 0,
            rows_written: 0,
            d1_write_ms: 0,
            latency_counts: new Array(LATENCY_BOUNDS_MS.length + 1).fill(0),
          };
    }
    return this.statsCache;
  }

  /** D1 batch calls, rows they carried, flush latencies and rows waiting: `GET /v1/systems/{system}/log`. */
  async stats(): Promise<ShardStats> {
    return { pending: this.pendingCount(), ...this.counters() };
  }

  /**
   * Count a batch D1 took. A row's latency is from the newest fact it carries (the decision, or its reward when
   * that came later) to now, the moment the batch succeeded.
   */
  private countBatch(rows: readonly DecisionRow[], started: number, now: number): void {
    const stats = this.counters();
    stats.d1_batches++;
    stats.rows_written += rows.length;
    stats.d1_write_ms = (stats.d1_write_ms ?? 0) + (now - started);
    for (const row of rows) {
      const made = Date.parse(row.rewarded_at ?? row.created_at);
      const bucket = latencyBucket(Math.max(0, now - made));
      stats.latency_counts[bucket] = (stats.latency_counts[bucket] ?? 0) + 1;
    }
    writeMeta(this.sql, "stats", JSON.stringify(stats));
  }

  /** A user's arms object of this agent type exists (called by the object before its first answer). */
  async registerAgentType(userId: string, agentType: string): Promise<void> {
    this.sql.exec("INSERT OR IGNORE INTO user_agent_types (user_id, agent_type) VALUES (?, ?)", userId, agentType);
  }

  /**
   * Drop a forgotten user's waiting rows and registrations: how many rows there were, and every agent type the
   * user has an arms object of (registered, or named by a waiting row), so each object is forgotten too.
   */
  async forget(userId: string): Promise<{ removed: number; agentTypes: string[] }> {
    const rows = this.sql.exec<{ decision_id: string; row: string }>("SELECT decision_id, row FROM pending").toArray();
    let removed = 0;
    const agentTypes = new Set<string>(
      this.sql
        .exec<{ agent_type: string }>("SELECT agent_type FROM user_agent_types WHERE user_id = ?", userId)
        .toArray()
        .map((r) => r.agent_type),
    );
    this.sql.exec("DELETE FROM user_agent_types WHERE user_id = ?", userId);
    for (const { decision_id, row } of rows) {
      const parsed = JSON.parse(row) as DecisionRow;
      if (parsed.user_id !== userId) continue;
      this.sql.exec("DELETE FROM pending WHERE decision_id = ?", decision_id);
      agentTypes.add(parsed.agent_type);
      removed++;
    }
    return { removed, agentTypes: [...agentTypes] };
  }

  /** Whether a batch is worth a D1 call now: a full one waits, or the oldest row has waited its time. */
  private due(now: number): boolean {
    if (this.pendingCount() >= FLUSH_ROWS) return true;
    const oldest = this.sql.exec<{ t: number | null }>("SELECT MIN(queued_at) AS t FROM pending").one().t;
    return oldest !== null && now >= oldest + FLUSH_DELAY_MS;
  }

  private async schedule(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt === null || at < this.alarmAt) {
      await this.ctx.storage.setAlarm(at);
      this.alarmAt = at;
    }
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const raw = readMeta(this.sql, "identity");
    if (!raw) return;
    const identity = JSON.parse(raw) as ShardIdentity;
    const db = logDatabaseNamed(this.env, identity.database);
    try {
      for (let batch = 0; batch < MAX_BATCHES_PER_ALARM; batch++) {
        // After the batch the alarm was due for, only full batches or rows that waited long enough: a remainder
        // that came in meanwhile waits for company rather than going as a small batch of its own.
        if (batch > 0 && !this.due(Date.now())) break;
        const taken = this.sql
          .exec<{ decision_id: string; row: string; version: number }>(
            "SELECT decision_id, row, version FROM pending ORDER BY queued_at LIMIT ?",
            FLUSH_ROWS,
          )
          .toArray();
        if (taken.length === 0) break;
        const rows = taken.map((t) => JSON.parse(t.row) as DecisionRow);
        const started = Date.now();
        await writeDecisions(db, rows);
        this.countBatch(rows, started, Date.now());
        // Appends run while the batch is in flight: a row replaced meanwhile stays, with its new version.
        for (const t of taken) this.sql.exec("DELETE FROM pending WHERE decision_id = ? AND version = ?", t.decision_id, t.version);
        if (taken.length < FLUSH_ROWS) break;
      }
      this.failures = 0;
    } catch (error) {
      // Kept for the next try, with a growing pause, rather than the platform's few alarm retries.
      console.error(`decision log shard of ${identity.system}: D1 write failed`, error);
      const stats = this.counters();
      stats.d1_failed_batches = (stats.d1_failed_batches ?? 0) + 1;
      writeMeta(this.sql, "stats", JSON.stringify(stats));
      const pause = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)] as number;
      this.failures++;
      return this.schedule(Date.now() + pause);
    }
    const left = this.pendingCount();
    if (left === 0) return;
    // The rows left wait no longer than they would have alone: from when the oldest came, not from now.
    const oldest = this.sql.exec<{ t: number }>("SELECT MIN(queued_at) AS t FROM pending").one().t;
    const now = Date.now();
    await this.schedule(left >= FLUSH_ROWS ? now : Math.max(now, oldest + FLUSH_DELAY_MS));
  }
}
