/**
 * Scoped API keys in D1 (migrations/0006_api_keys.sql), with a per-isolate cache so that authenticating a request
 * costs no D1 read while the key is cached. A revoked key is dropped from this isolate's cache at once and from
 * every other isolate's within KEY_CACHE_TTL_MS (the same default as a system config's cache).
 */
import { ALL_SYSTEMS, type ApiKey, type CreatedKey, type KeyScope } from "../../src/keys/schema.js";
import { hashKey, keyIdOf, newKey, sameSecret } from "../../src/keys/secret.js";
import { type Page, pageOf } from "./page";

const KEY_CACHE_TTL_MS = 30_000;
/** Bounded, so made-up key ids cannot grow an isolate's memory. */
const CACHE_ENTRIES = 1000;

interface Row {
  id: string;
  key_hash: string;
  scope: KeyScope;
  systems: string;
  name: string | null;
  created_at: string;
  revoked_at: string | null;
}

/** Who a request acts as: a scoped key of D1, or one of the CONVERGENCE_API_KEY secret's bootstrap admin keys. */
export interface Principal {
  id: string;
  scope: KeyScope;
  systems: readonly string[];
}

const cache = new Map<string, { row: Row | null; expires: number }>();

function remember(id: string, row: Row | null, now: number): void {
  cache.delete(id);
  if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  cache.set(id, { row, expires: now + KEY_CACHE_TTL_MS });
}

const COLUMNS = "id, key_hash, scope, systems, name, created_at, revoked_at";

function view(row: Row): ApiKey {
  return {
    id: row.id,
    scope: row.scope,
    systems: JSON.parse(row.systems) as string[],
    name: row.name,
    created_at: row.created_at,
    revoked_at: row.revoked_at,
  };
}

export async function createKey(db: D1Database, request: { scope: KeyScope; systems?: string[]; name?: string }): Promise<CreatedKey> {
  const { id, key } = newKey();
  const systems = request.scope === "admin" ? [ALL_SYSTEMS] : (request.systems ?? [ALL_SYSTEMS]);
  const created_at = new Date().toISOString();
  await db
    .prepare("INSERT INTO api_keys (id, key_hash, scope, systems, name, created_at) VALUES (?, ?, ?, ?, ?, ?)")
    .bind(id, await hashKey(key), request.scope, JSON.stringify(systems), request.name ?? null, created_at)
    .run();
  return { id, key, scope: request.scope, systems, name: request.name ?? null, created_at };
}

/** Where the list of keys goes on from: the last key's (created_at, id). */
export type KeyPosition = [createdAt: string, id: string];

/** A page of the keys made with POST /v1/keys, newest first (ties by id), revoked ones included. */
export async function listKeys(
  db: D1Database,
  { limit, after }: { limit: number; after?: KeyPosition | undefined },
): Promise<Page<ApiKey, KeyPosition>> {
  const from = after ? "WHERE (created_at, id) < (?, ?)" : "";
  const { results } = await db
    .prepare(`SELECT ${COLUMNS} FROM api_keys ${from} ORDER BY created_at DESC, id DESC LIMIT ?`)
    .bind(...(after ?? []), limit + 1)
    .all<Row>();
  return pageOf(results.map(view), limit, (key): KeyPosition => [key.created_at, key.id]);
}

/** Revoke a key (again is a no-op that answers the same); null when there is no such key. */
export async function revokeKey(db: D1Database, id: string): Promise<ApiKey | null> {
  const row = await db
    .prepare(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING ${COLUMNS}`)
    .bind(new Date().toISOString(), id)
    .first<Row>();
  cache.delete(id);
  return row ? view(row) : null;
}

/**
 * The principal of a presented scoped key, or null when it is not one, is unknown, revoked or wrong. `lookup` is
 * called before a D1 read (not for a cached key), so the caller can bound the reads an unknown key may cause.
 */
export async function principalOf(
  db: D1Database,
  presented: string,
  beforeRead: () => Promise<void>,
  now = Date.now(),
): Promise<Principal | null> {
  const id = keyIdOf(presented);
  if (!id) return null;
  let entry = cache.get(id);
  if (!entry || entry.expires <= now) {
    await beforeRead();
    const row = await db.prepare(`SELECT ${COLUMNS} FROM api_keys WHERE id = ?`).bind(id).first<Row>();
    remember(id, row ?? null, now);
    entry = cache.get(id) as { row: Row | null; expires: number };
  }
  const row = entry.row;
  if (!row || row.revoked_at !== null) return null;
  if (!sameSecret(await hashKey(presented), row.key_hash)) return null;
  return { id: row.id, scope: row.scope, systems: JSON.parse(row.systems) as string[] };
}
