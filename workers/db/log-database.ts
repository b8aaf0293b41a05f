/**
 * Which D1 database holds a system's decision log and rollups. One database (DB) is the default; a deployment past
 * one database's write rate declares more D1 bindings and lists them in LOG_DATABASES (docs/architecture.md,
 * "Decision log"). A system's database is chosen when the system is created, by a stable hash of its name over the
 * listed ones (rendezvous: adding a database moves no existing system), and stored with it, so a system never
 * changes database. Every read or write of decisions, rollups, archive marks and tombstones goes through here.
 */
import { fnv1a64 } from "../../src/search/hash.js";
import type { Env } from "../env";

export const DEFAULT_LOG_DATABASE = "DB";

/** The D1 bindings new systems' logs may go to. */
function logDatabaseNames(env: Env): string[] {
  const listed = (env.LOG_DATABASES ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  return listed.length > 0 ? listed : [DEFAULT_LOG_DATABASE];
}

/** The database a new system's log goes to: the listed one whose hash with the system's name is highest. */
export function chooseLogDatabase(env: Env, system: string): string {
  let best = DEFAULT_LOG_DATABASE;
  let bestScore = "";
  for (const name of logDatabaseNames(env)) {
    const score = fnv1a64(`${name}\u0000${system}`);
    if (score > bestScore) [best, bestScore] = [name, score];
  }
  return best;
}

/** A D1 binding by name; a name the deployment does not bind is a configuration error, said plainly. */
export function logDatabaseNamed(env: Env, name: string): D1Database {
  const binding = (env as unknown as Record<string, unknown>)[name] as Partial<D1Database> | undefined;
  if (!binding || typeof binding.prepare !== "function" || typeof binding.batch !== "function") {
    throw new Error(`decision log database '${name}' is not a D1 binding of this deployment (wrangler.toml [[d1_databases]])`);
  }
  return binding as D1Database;
}

/** The database of a system's log (null: one created before log databases were chosen, so DB). */
export function logDatabaseOf(env: Env, system: { log_database?: string | null }): D1Database {
  return logDatabaseNamed(env, system.log_database ?? DEFAULT_LOG_DATABASE);
}
