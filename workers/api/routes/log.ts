/**
 * The decision log as an operator (and `npm run bench:decisions`) sees it: a system's log shards added up, so D1
 * write calls per decision, rows per call, rows still waiting and flush latency can be read off a running service.
 */
import { createRoute } from "@hono/zod-openapi";
import { type DecisionLogStats, DecisionLogStatsSchema } from "../../../src/runtime/schema.js";
import { DEFAULT_LOG_DATABASE } from "../../db/log-database";
import type { Env } from "../../env";
import { LOG_SHARDS, latencyQuantile, logShardIndexName, type ShardStats } from "../../objects/log-shards";
import { errorResponses, json } from "../errors";
import { routeGroup } from "./group";
import { requireSystem, SystemParams } from "./runtime";

const routes = {
  log: createRoute({
    method: "get",
    path: "/v1/systems/{system}/log",
    summary: "The system's decision log on its way to D1: rows waiting, D1 batch calls, rows written, flush latency p50/p99",
    request: { params: SystemParams },
    responses: { 200: json(DecisionLogStatsSchema.openapi("DecisionLogStats"), "The log's counters"), ...errorResponses },
  }),
};

/** The RPC the route uses, named plainly (the generated stub types are too deep for tsc). */
type ShardRpc = { stats(): Promise<ShardStats> };

async function decisionLogStats(env: Env, system: string, database: string): Promise<DecisionLogStats> {
  const shards = await Promise.all(
    Array.from({ length: LOG_SHARDS }, (_, i) =>
      (env.LOG_SHARDS.getByName(logShardIndexName(database, system, i)) as unknown as ShardRpc).stats(),
    ),
  );
  const latency: number[] = [];
  for (const shard of shards) {
    shard.latency_counts.forEach((n, i) => {
      latency[i] = (latency[i] ?? 0) + n;
    });
  }
  const sum = (key: "pending" | "d1_batches" | "d1_failed_batches" | "rows_written" | "d1_write_ms") =>
    shards.reduce((total, shard) => total + (shard[key] ?? 0), 0);
  return {
    system,
    database,
    shards: LOG_SHARDS,
    pending: sum("pending"),
    d1_batches: sum("d1_batches"),
    d1_failed_batches: sum("d1_failed_batches"),
    rows_written: sum("rows_written"),
    d1_write_ms: sum("d1_write_ms"),
    flush_latency_ms: {
      rows: latency.reduce((a, b) => a + b, 0),
      p50: latencyQuantile(latency, 0.5),
      p99: latencyQuantile(latency, 0.99),
    },
  };
}

export const logApp = routeGroup().openapi(routes.log, async (c) => {
  const system = await requireSystem(c.env, c.req.valid("param").system);
  return c.json(await decisionLogStats(c.env, system.name, system.log_database ?? DEFAULT_LOG_DATABASE), 200);
});
