/** Systems' runtime configs in D1, cached per isolate for the system's cache_ttl_seconds. */
import { type ContextModel, parseContextModel } from "../../src/bandit/contextual.js";
import { type Population, parsePopulation } from "../../src/bandit/pooling.js";
import { type RuntimeConfig, RuntimeConfigSchema, type SystemListItem } from "../../src/runtime/schema.js";
import { type Page, pageOf } from "./page";

export interface SystemSnapshot {
  name: string;
  version: number;
  config: RuntimeConfig;
  updated_at: string;
  /** What pooled priors start from (workers/db/population.ts); null before the first refresh. */
  population?: Population | null;
  /** What the contextual policy predicts from (workers/db/population.ts); null before the first fit. */
  context_model?: ContextModel | null;
  /** The host the config was last written through: runs of its schedule may not call it. Null before 0007. */
  written_host?: string | null;
  /** The D1 binding of its decision log (workers/db/log-database.ts); null before 0008: DB. */
  log_database?: string | null;
}

const cache = new Map<string, { snapshot: SystemSnapshot | null; expires: number }>();
/** Bounded, so requests for many made-up system names cannot grow an isolate's memory. */
const CACHE_ENTRIES = 1000;

function remember(name: string, entry: { snapshot: SystemSnapshot | null; expires: number }): void {
  cache.delete(name);
  if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  cache.set(name, entry);
}
/** Unknown systems are remembered briefly too, so a misconfigured client cannot hammer D1. */
const MISS_TTL_MS = 2000;

interface Row {
  name: string;
  version: number;
  config: string;
  updated_at: string;
  population: string | null;
  context_model: string | null;
  written_host: string | null;
  log_database: string | null;
}

/** The columns every read of a system returns. */
const SYSTEM_COLUMNS = "name, version, config, updated_at, population, context_model, written_host, log_database";

/**
 * A stored config that this version's checks refuse: written before a bound existed (an arm's params over 8 KiB,
 * say). The system answers 409 until its config is written again; nothing else stops.
 */
export class StoredConfigInvalid extends Error {
  constructor(
    readonly system: string,
    problems: string,
  ) {
    super(
      `the stored config of system '${system}' does not pass this version's checks (${problems}): PUT /v1/systems/${system} with a corrected config`,
    );
  }
}

function fromRow(row: Row): SystemSnapshot {
  const population = row.population ? parsePopulation(JSON.parse(row.population)) : null;
  const parsed = RuntimeConfigSchema.safeParse(JSON.parse(row.config));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "config"}: ${i.message}`).join("; ");
    throw new StoredConfigInvalid(row.name, problems.slice(0, 500));
  }
  return {
    name: row.name,
    version: row.version,
    config: parsed.data,
    written_host: row.written_host,
    log_database: row.log_database,
    updated_at: row.updated_at,
    population,
    context_model: row.context_model ? parseContextModel(JSON.parse(row.context_model)) : null,
  };
}

/** The system as D1 has it now, bypassing the cache (for read-modify-write). */
export async function readSystem(db: D1Database, name: string): Promise<SystemSnapshot | null> {
  const row = await db.prepare(`SELECT ${SYSTEM_COLUMNS} FROM systems WHERE name = ?`).bind(name).first<Row>();
  return row ? fromRow(row) : null;
}

export async function getSystem(db: D1Database, name: string, now = Date.now()): Promise<SystemSnapshot | null> {
  const cached = cache.get(name);
  if (cached && cached.expires > now) return cached.snapshot;
  const snapshot = await readSystem(db, name);
  remember(name, { snapshot, expires: now + (snapshot ? snapshot.config.cache_ttl_seconds * 1000 : MISS_TTL_MS) });
  return snapshot;
}

/** Create or replace a system; `logDatabase` is where a new system's log goes (an existing one keeps its own). */
export async function putSystem(
  db: D1Database,
  name: string,
  config: RuntimeConfig,
  { writtenHost = null, logDatabase }: { writtenHost?: string | null; logDatabase: string },
): Promise<SystemSnapshot> {
  const stored = { ...config, system: name };
  const row = await db
    .prepare(
      `INSERT INTO systems (name, config, version, created_at, updated_at, written_host, log_database) VALUES (?1, ?2, 1, ?3, ?3, ?4, ?5)
       ON CONFLICT(name) DO UPDATE SET config = excluded.config, version = systems.version + 1, updated_at = excluded.updated_at,
         written_host = excluded.written_host
       RETURNING ${SYSTEM_COLUMNS}`,
    )
    .bind(name, JSON.stringify(stored), new Date().toISOString(), writtenHost, logDatabase)
    .first<Row>();
  const snapshot = fromRow(row as Row);
  remember(name, { snapshot, expires: Date.now() + snapshot.config.cache_ttl_seconds * 1000 });
  return snapshot;
}

/**
 * Write the system only if it is still at `version` (0: if it does not exist yet), for read-modify-write
 * without losing a concurrent change; null when it changed meanwhile.
 */
export async function putSystemIfVersion(
  db: D1Database,
  name: string,
  config: RuntimeConfig,
  version: number,
  logDatabase: string,
): Promise<SystemSnapshot | null> {
  const stored = JSON.stringify({ ...config, system: name });
  const now = new Date().toISOString();
  const row =
    version === 0
      ? await db
          .prepare(
            `INSERT INTO systems (name, config, version, created_at, updated_at, log_database) VALUES (?1, ?2, 1, ?3, ?3, ?4)
             ON CONFLICT(name) DO NOTHING RETURNING ${SYSTEM_COLUMNS}`,
          )
          .bind(name, stored, now, logDatabase)
          .first<Row>()
      : await db
          .prepare(
            `UPDATE systems SET config = ?2, version = version + 1, updated_at = ?3 WHERE name = ?1 AND version = ?4
             RETURNING ${SYSTEM_COLUMNS}`,
          )
          .bind(name, stored, now, version)
          .first<Row>();
  if (!row) return null;
  const snapshot = fromRow(row);
  remember(name, { snapshot, expires: Date.now() + snapshot.config.cache_ttl_seconds * 1000 });
  return snapshot;
}

/** Forget cached systems (tests; and a system whose population was just refreshed). */
export function clearSystemCache(name?: string): void {
  if (name === undefined) cache.clear();
  else cache.delete(name);
}

/** Every system with a re-optimization schedule. */
export async function scheduledSystems(db: D1Database): Promise<SystemSnapshot[]> {
  const { results } = await db
    .prepare(`SELECT ${SYSTEM_COLUMNS} FROM systems WHERE json_extract(config, '$.reoptimize') IS NOT NULL`)
    .all<Row>();
  return results.flatMap((row) => {
    try {
      const system = fromRow(row);
      return system.config.reoptimize !== null ? [system] : [];
    } catch (error) {
      // One system's stale config must not stop the others' schedules.
      if (!(error instanceof StoredConfigInvalid)) throw error;
      console.warn(error.message);
      return [];
    }
  });
}

/** Where the list of systems goes on from: the last system's (updated_at, name). */
export type SystemPosition = [updatedAt: string, name: string];

/** A page of the systems, most recently changed first (ties by name), after `after` when given. */
export async function listSystems(
  db: D1Database,
  { limit, after }: { limit: number; after?: SystemPosition | undefined },
): Promise<Page<SystemListItem, SystemPosition>> {
  const from = after ? "WHERE (updated_at, name) < (?, ?)" : "";
  const { results } = await db
    .prepare(
      `SELECT name AS system, version, COALESCE(json_extract(config, '$.agent_type'), 'default') AS agent_type,
         json_array_length(config, '$.default_arms') AS arms, updated_at
       FROM systems ${from} ORDER BY updated_at DESC, name DESC LIMIT ?`,
    )
    .bind(...(after ?? []), limit + 1)
    .all<SystemListItem>();
  return pageOf(results, limit, (s): SystemPosition => [s.updated_at, s.system]);
}
