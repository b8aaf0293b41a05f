/**
 * The log shards (decision-log-shard.ts) as the rest of the service sees them: which shard a user's decisions go
 * through, and what a shard reports. Apart from the Durable Object class, so that code which only names a shard or
 * reads its figures (the routes, which also load in Node for the API description) does not import
 * cloudflare:workers.
 */
import { fnv1a64 } from "../../src/search/hash.js";

/** Shards per system: enough that one shard's rate of calls stays far below a Durable Object's. */
export const LOG_SHARDS = 4;

/** The shard a user's decisions go through. */
export function logShardName(database: string, system: string, userId: string): string {
  return logShardIndexName(database, system, Number.parseInt(fnv1a64(userId).slice(-8), 16) % LOG_SHARDS);
}

/** A system's shard by its number, 0 to LOG_SHARDS - 1. */
export function logShardIndexName(database: string, system: string, index: number): string {
  return JSON.stringify([database, system, index]);
}

/**
 * Flush latency histogram: bucket i counts rows whose latency was at most LATENCY_BOUNDS_MS[i] (and above the bucket
 * before); the last bucket takes everything longer. Bounds grow by 10% from 1 ms to about an hour, so a percentile
 * read from it is within 10% of the true one, and shards' histograms add up exactly (a reservoir would not).
 */
export const LATENCY_BOUNDS_MS: readonly number[] = Array.from({ length: 160 }, (_, i) => Math.round(1.1 ** i * 10) / 10);

/** What a shard has done since it was created. */
export interface ShardStats {
  pending: number;
  d1_batches: number;
  /** D1 batch calls that failed (their rows stayed and went again). */
  d1_failed_batches: number;
  rows_written: number;
  /** Time spent in the batch calls that succeeded, from the call to its answer. */
  d1_write_ms: number;
  /** Counts per bucket of LATENCY_BOUNDS_MS, and one more for longer. */
  latency_counts: number[];
}

export function latencyBucket(ms: number): number {
  let low = 0;
  let high = LATENCY_BOUNDS_MS.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (ms <= (LATENCY_BOUNDS_MS[mid] as number)) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** The q-quantile (0..1) of a histogram, as its bucket's upper bound; null when it is empty. */
export function latencyQuantile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] as number;
    if (seen >= rank) return LATENCY_BOUNDS_MS[Math.min(i, LATENCY_BOUNDS_MS.length - 1)] as number;
  }
  return null;
}
