/**
 * Which log shard (decision-log-shard.ts) a user's decisions go through. Apart from the Durable Object class, so
 * that code which only names a shard (the routes, which also load in Node for the API description) does not
 * import cloudflare:workers.
 */
import { fnv1a64 } from "../../src/search/hash.js";

/** Shards per system: enough that one shard's rate of calls stays far below a Durable Object's. */
export const LOG_SHARDS = 8;

/** The shard a user's decisions go through. */
export function logShardName(database: string, system: string, userId: string): string {
  return JSON.stringify([database, system, Number.parseInt(fnv1a64(userId).slice(-8), 16) % LOG_SHARDS]);
}
