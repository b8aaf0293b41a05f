/**
 * Retention: decisions older than a system's `decision_retention_days` leave D1 for R2 (the ARCHIVE bucket), and
 * every read of the log past retention (offline evaluation, export) reads them back from there.
 *
 * Objects: `decisions/{system}/{YYYY-MM-DD}/{first created_at}_{hash of first decision_id}.ndjson.gz`, gzip NDJSON of
 * ExportedDecision lines (src/runtime/export.ts), each at most ARCHIVE_CHUNK_ROWS decisions of one UTC day, in
 * (created_at, decision_id) order. A day is several objects, not one (the issue asked one per system and day):
 * a day of a busy system holds millions of decisions, more than one cron step can read, compress and hold in memory.
 * The key follows from the rows alone, so a step that wrote an object and failed before deleting its rows writes the
 * same key with the same lines next time: nothing is archived twice.
 *
 * Order of a step, per system: raise the archive mark first, so the guarded upsert (workers/db/decisions.ts) refuses
 * every late write below it (a late decision or a late reward); the rows below the mark are then frozen, and are
 * written to R2 and deleted from D1 chunk by chunk. Rollups are never touched: deleting rows fires no trigger, so
 * totals, the summary and the population stay as they were.
 */
import { type ExportedDecision, ExportedDecisionSchema } from "../../src/runtime/export.js";
import { DEFAULT_RETENTION_DAYS, RuntimeConfigSchema } from "../../src/runtime/schema.js";
import { fnv1a64 } from "../../src/search/hash.js";
import type { Env } from "../env";
import type { DecisionRow } from "./decisions";
import { logDatabaseOf } from "./log-database";

/** Decisions per R2 object: about 1 MB of gzip, read whole by every archive read that touches it. */
const ARCHIVE_CHUNK_ROWS = 5_000;
/** Decisions archived per cron step, over all systems: bounds the step's time; the rest goes at the next step. */
const ARCHIVE_ROWS_PER_STEP = 50_000;
/** Decision ids per DELETE statement (D1 binds at most 100 parameters; 1 is the system). */
const DELETE_IDS = 90;
/**
 * The cutoff is the start of the UTC day of (now - retention), one hour earlier: a decision whose reward is still on
 * its way at the day boundary (the select and update of one request straddling midnight) keeps an hour to land.
 */
const CUTOFF_MARGIN_MS = 3_600_000;
const DAY_MS = 86_400_000;

const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/** A D1 row as an archive (and export) line: its JSON columns parsed. */
function lineOf(row: DecisionRow): ExportedDecision {
  return {
    decision_id: row.decision_id,
    system: row.system,
    agent_type: row.agent_type,
    user_id: row.user_id,
    arm_id: row.arm_id,
    params: parseJson(row.params) as ExportedDecision["params"],
    selection_probability: row.selection_probability,
    context: parseJson(row.context) as ExportedDecision["context"],
    created_at: row.created_at,
    reward: row.reward,
    engagement: row.engagement,
    grading: row.grading,
    reward_source: row.reward_source,
    rewarded_at: row.rewarded_at,
    update_metadata: parseJson(row.update_metadata) as ExportedDecision["update_metadata"],
    arms_snapshot: parseJson(row.arms_snapshot) as ExportedDecision["arms_snapshot"],
    unit_new: row.unit_new,
    unit_sum_sq: row.unit_sum_sq,
    unit_n_sq: row.unit_n_sq,
    features: parseJson(row.features ?? null) as ExportedDecision["features"],
  };
}

/** The archive's objects of one system and day share this prefix. */
const archiveDayPrefix = (system: string, day: string) => `decisions/${system}/${day}/`;

/** The deterministic key of a chunk whose first line is `first`. */
const archiveKey = (system: string, first: { created_at: string; decision_id: string }) =>
  `${archiveDayPrefix(system, first.created_at.slice(0, 10))}${first.created_at}_${fnv1a64(first.decision_id)}.ndjson.gz`;

/** When decisions of a system with this retention start being archived, at `now`. */
function archiveCutoff(now: number, retentionDays: number): string {
  const day = Math.floor((now - retentionDays * DAY_MS) / DAY_MS) * DAY_MS;
  return new Date(day - CUTOFF_MARGIN_MS).toISOString();
}

async function gzip(text: string): Promise<ArrayBuffer> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Response(stream).arrayBuffer();
}

/** One object's lines. */
export async function readArchiveObject(bucket: R2Bucket, key: string): Promise<ExportedDecision[]> {
  const object = await bucket.get(key);
  if (!object) return [];
  const text = await new Response(object.body.pipeThrough(new DecompressionStream("gzip"))).text();
  return text
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => ExportedDecisionSchema.parse(JSON.parse(line)));
}

/** The system's archive mark: decisions made before it are in R2 (or on their way there); null before any. */
async function archiveMarkOf(db: D1Database, system: string): Promise<string | null> {
  const row = await db.prepare("SELECT archived_before FROM decision_archive_marks WHERE system = ?").bind(system).first<{
    archived_before: string;
  }>();
  return row?.archived_before ?? null;
}

/** Moves one chunk (at most ARCHIVE_CHUNK_ROWS rows of one day, below the mark); the number of rows moved. */
async function archiveChunk(env: Env, db: D1Database, system: string, mark: string, maxRows: number, chunkRows: number): Promise<number> {
  const first = await db
    .prepare("SELECT created_at FROM decisions WHERE system = ?1 AND created_at < ?2 ORDER BY created_at LIMIT 1")
    .bind(system, mark)
    .first<{ created_at: string }>();
  if (!first) return 0;
  // One day per object: the rows up to the end of the first row's day (or the mark, if sooner).
  const dayEnd = new Date(Date.parse(`${first.created_at.slice(0, 10)}T00:00:00.000Z`) + DAY_MS).toISOString();
  const end = dayEnd < mark ? dayEnd : mark;
  const { results } = await db
    .prepare("SELECT * FROM decisions WHERE system = ?1 AND created_at < ?2 ORDER BY created_at, decision_id LIMIT ?3")
    .bind(system, end, Math.min(chunkRows, maxRows))
    .all<DecisionRow>();
  const head = results[0];
  if (!head) return 0;
  const body = `${results.map((row) => JSON.stringify(lineOf(row))).join("\n")}\n`;
  await env.ARCHIVE.put(archiveKey(system, head), await gzip(body), {
    httpMetadata: { contentType: "application/x-ndjson", contentEncoding: "gzip" },
    customMetadata: { rows: String(results.length), last_created_at: (results.at(-1) as DecisionRow).created_at },
  });
  // Only after the object is stored: a failure here leaves rows that the next step writes to the same key again.
  const statements: D1PreparedStatement[] = [];
  for (let i = 0; i < results.length; i += DELETE_IDS) {
    const ids = results.slice(i, i + DELETE_IDS).map((row) => row.decision_id);
    statements.push(
      db
        .prepare(`DELETE FROM decisions WHERE system = ?1 AND decision_id IN (${ids.map((_, j) => `?${j + 2}`).join(", ")})`)
        .bind(system, ...ids),
    );
  }
  await db.batch(statements);
  return results.length;
}

/**
 * The cron's step: for each system, raise its archive mark to its cutoff and move what lies below it to R2, at most
 * ARCHIVE_ROWS_PER_STEP rows in all. Returns the rows moved per system.
 */
export async function archiveDecisions(
  env: Env,
  now = Date.now(),
  /** Smaller than the defaults only in tests, to make many objects of a few decisions. */
  { budget = ARCHIVE_ROWS_PER_STEP, chunkRows = ARCHIVE_CHUNK_ROWS }: { budget?: number; chunkRows?: number } = {},
): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare("SELECT name, config, log_database FROM systems ORDER BY name").all<{
    name: string;
    config: string;
    log_database: string | null;
  }>();
  const moved: Record<string, number> = {};
  let left = budget;
  for (const row of results) {
    try {
      // A stored config this version refuses still has its log archived, with the default retention.
      const parsed = RuntimeConfigSchema.safeParse(JSON.parse(row.config));
      const retention = parsed.success ? parsed.data.decision_retention_days : DEFAULT_RETENTION_DAYS;
      const db = logDatabaseOf(env, row);
      const cutoff = archiveCutoff(now, retention);
      // Never lowered: a longer retention set later cannot bring back what is already in R2.
      await db
        .prepare(
          `INSERT INTO decision_archive_marks (system, archived_before) VALUES (?1, ?2)
           ON CONFLICT(system) DO UPDATE SET archived_before = MAX(archived_before, excluded.archived_before)`,
        )
        .bind(row.name, cutoff)
        .run();
      const mark = (await archiveMarkOf(db, row.name)) as string;
      let count = 0;
      // Past the step's budget the marks are still raised (one cheap write each): late writes stay refused.
      while (left > 0) {
        const n = await archiveChunk(env, db, row.name, mark, left, chunkRows);
        if (n === 0) break;
        count += n;
        left -= n;
      }
      moved[row.name] = count;
    } catch (error) {
      // One system's failure must not keep the others' logs growing; the next step tries it again.
      console.error(`archive of ${row.name}: failed`, error);
    }
  }
  return moved;
}

/** Objects read by one request at most: each is up to ARCHIVE_CHUNK_ROWS lines to gunzip and parse. */
const MAX_ARCHIVE_OBJECTS_PER_READ = 8;

/** A system's forgotten users and when: their decisions made up to then are never returned (tombstones). */
async function forgottenOf(db: D1Database, system: string): Promise<Map<string, string>> {
  const { results } = await db
    .prepare("SELECT user_id, forgotten_at FROM forgotten_users WHERE system = ?")
    .bind(system)
    .all<{ user_id: string; forgotten_at: string }>();
  return new Map(results.map((row) => [row.user_id, row.forgotten_at]));
}

const isForgotten = (forgotten: Map<string, string>, line: { user_id: string; created_at: string }) => {
  const at = forgotten.get(line.user_id);
  return at !== undefined && at >= line.created_at;
};

/** Every key under a prefix, in order (R2 lists at most 1000 a call). */
async function listKeys(bucket: R2Bucket, options: R2ListOptions): Promise<{ keys: string[]; prefixes: string[] }> {
  const keys: string[] = [];
  const prefixes: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ ...options, ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((o) => o.key));
    prefixes.push(...page.delimitedPrefixes);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return { keys, prefixes };
}

/**
 * The newest archived rewarded decisions of a system (of one agent type, or all), newest first, leaving out those
 * in `exclude` (already read from D1) and those of forgotten users. Reads objects from the newest day back, at
 * most MAX_ARCHIVE_OBJECTS_PER_READ: `truncated` when it stopped there with older objects left.
 */
export async function archivedRewarded(
  env: Env,
  db: D1Database,
  system: string,
  { limit, agentType, exclude }: { limit: number; agentType?: string | undefined; exclude: ReadonlySet<string> },
): Promise<{ decisions: ExportedDecision[]; truncated: boolean }> {
  const forgotten = await forgottenOf(db, system);
  const { prefixes: days } = await listKeys(env.ARCHIVE, { prefix: `decisions/${system}/`, delimiter: "/" });
  const found: ExportedDecision[] = [];
  // Objects can overlap (a chunk rewritten under another key after its first row's user was forgotten): each
  // decision counts once.
  const seen = new Set<string>();
  let read = 0;
  for (const day of days.sort().reverse()) {
    const { keys } = await listKeys(env.ARCHIVE, { prefix: day });
    for (const key of keys.sort().reverse()) {
      if (found.length >= limit) return { decisions: found, truncated: false };
      if (read >= MAX_ARCHIVE_OBJECTS_PER_READ) return { decisions: found, truncated: true };
      read++;
      const lines = await readArchiveObject(env.ARCHIVE, key);
      for (const line of lines.reverse()) {
        if (line.reward === null || exclude.has(line.decision_id) || seen.has(line.decision_id) || isForgotten(forgotten, line)) continue;
        if (agentType !== undefined && line.agent_type !== agentType) continue;
        seen.add(line.decision_id);
        found.push(line);
      }
    }
  }
  return { decisions: found, truncated: false };
}

/** A place in the log's (created_at, decision_id) order; a page starts after it. */
type Position = readonly [string, string];
const before = (a: Position, b: Position) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
const positionOf = (line: { created_at: string; decision_id: string }): Position => [line.created_at, line.decision_id];

/** The cursor is opaque to clients: base64url of the position. */
export function encodeCursor(position: Position): string {
  return btoa(JSON.stringify(position)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}
export function decodeCursor(cursor: string): Position | null {
  try {
    const value = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/"))) as unknown;
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "string")) return value as [string, string];
  } catch {
    // not a cursor of ours
  }
  return null;
}

/**
 * One page of a system's log after `from`, oldest first: the archive's lines and D1's rows merged (D1 wins: a chunk
 * may be in R2 before its rows are deleted), forgotten users' decisions left out. A page ends where both sources are
 * known to be complete, so a page may be short; the cursor then still moves forward.
 */
export async function exportPage(
  env: Env,
  db: D1Database,
  system: string,
  from: Position,
  limit: number,
): Promise<{ decisions: ExportedDecision[]; next: Position | null }> {
  // Exclusive bound: every decision before it is among `merged`. null: no bound (everything after `from` is known).
  let bound: Position | null = null;
  const merged = new Map<string, ExportedDecision>();
  const mark = await archiveMarkOf(db, system);
  if (mark !== null && from[0] < mark) {
    const keys: string[] = [];
    const { prefixes: days } = await listKeys(env.ARCHIVE, { prefix: `decisions/${system}/`, delimiter: "/" });
    const fromDay = archiveDayPrefix(system, from[0].slice(0, 10));
    // Days are listed until enough objects are known; the first day not listed bounds what this page can know.
    let unlistedDay: string | null = null;
    for (const day of days.sort()) {
      if (day < fromDay) continue;
      if (keys.length > MAX_ARCHIVE_OBJECTS_PER_READ * 4) {
        unlistedDay = day.slice(-11, -1);
        break;
      }
      keys.push(...(await listKeys(env.ARCHIVE, { prefix: day })).keys.sort());
    }
    // An object holds decisions before the next one's first: those whose next object starts before `from` are skipped.
    const firstOf = (key: string) => key.slice(key.lastIndexOf("/") + 1).split("_")[0] as string;
    let start = 0;
    while (start + 1 < keys.length && firstOf(keys[start + 1] as string) < from[0]) start++;
    let read = 0;
    let index = start;
    let gathered = 0;
    for (; index < keys.length && read < MAX_ARCHIVE_OBJECTS_PER_READ && gathered < limit; index++, read++) {
      for (const line of await readArchiveObject(env.ARCHIVE, keys[index] as string)) {
        if (!before(from, positionOf(line))) continue;
        merged.set(line.decision_id, line);
        gathered++;
      }
    }
    const next = keys[index];
    if (next !== undefined) bound = [firstOf(next), ""];
    else if (unlistedDay !== null) bound = [`${unlistedDay}T00:00:00.000Z`, ""];
  }
  const { results } = await db
    .prepare(
      `SELECT * FROM decisions WHERE system = ?1 AND (created_at > ?2 OR (created_at = ?2 AND decision_id > ?3))
       ORDER BY created_at, decision_id LIMIT ?4`,
    )
    .bind(system, from[0], from[1], limit)
    .all<DecisionRow>();
  for (const row of results) merged.set(row.decision_id, lineOf(row));
  const last = results.at(-1);
  if (last && results.length === limit) {
    // Just after the last row read: no decision id ends in U+0000.
    const after: Position = [last.created_at, `${last.decision_id}\u0000`];
    if (bound === null || before(after, bound)) bound = after;
  }
  const known = [...merged.values()]
    .filter((line) => bound === null || before(positionOf(line), bound))
    .sort((a, b) => (before(positionOf(a), positionOf(b)) ? -1 : 1));
  const page = known.slice(0, limit);
  const forgotten = await forgottenOf(db, system);
  const decisions = page.filter((line) => !isForgotten(forgotten, line));
  const lastOfPage = page.at(-1);
  if (page.length === limit && lastOfPage) return { decisions, next: positionOf(lastOfPage) };
  // A short page: everything before the bound was returned, so the next page starts there (null: the log's end).
  return { decisions, next: bound };
}
