/**
 * Which D1 database holds a system's decision log and rollups. One database (DB) is the default; a deployment past
 * one database's write rate declares more (see docs/architecture.md, "Decision log"). Every read or write of
 * decisions, rollups or archive marks goes through here.
 */
import type { Env } from "../env";

export function logDatabaseOf(env: Env, _system: string): D1Database {
  return env.DB;
}
