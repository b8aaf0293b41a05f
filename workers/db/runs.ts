/** Optimization runs in D1: the run row (status, progress, result), its candidates and its evaluations. */

import type { CandidateRecord, EvaluationRecord, RunEvaluation, RunStatus, RunView } from "../../src/run/schema.js";
import { fail, type OptimizationResult } from "../../src/sdk/response.js";
import { type Page, pageOf } from "./page";

export interface RunRow {
  run_id: string;
  api_name: string;
  status: RunStatus;
  algorithm: string;
  seed: number;
  trigger: "api" | "schedule";
  system: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  best_score: number | null;
  best_config: string | null;
  target_calls: number;
  generations_run: number;
  result: string | null;
  error: string | null;
}

const EXCERPT_CHARS = 300;

/** Record a new run; false when a run of that id exists already (nothing is written then). */
export async function insertRun(
  db: D1Database,
  run: Pick<RunRow, "run_id" | "api_name" | "algorithm" | "seed" | "trigger" | "system">,
): Promise<boolean> {
  const now = new Date().toISOString();
  const result = await db
    .prepare(
      `INSERT INTO runs (run_id, api_name, status, algorithm, seed, trigger, system, created_at, updated_at)
       VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id) DO NOTHING`,
    )
    .bind(run.run_id, run.api_name, run.algorithm, run.seed, run.trigger, run.system, now, now)
    .run();
  return result.meta.changes > 0;
}

export interface Progress {
  status: RunStatus;
  target_calls: number;
  generations_run: number;
  best_score: number | null;
  best_config: unknown;
}

function progressStatement(db: D1Database, runId: string, p: Progress): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE runs SET status = ?, target_calls = ?, generations_run = ?, best_score = ?, best_config = ?, updated_at = ?
       WHERE run_id = ?`,
    )
    .bind(
      p.status,
      p.target_calls,
      p.generations_run,
      p.best_score,
      p.best_config === null ? null : JSON.stringify(p.best_config),
      new Date().toISOString(),
      runId,
    );
}

function evaluationStatements(db: D1Database, runId: string, records: readonly EvaluationRecord[]): D1PreparedStatement[] {
  const statement = db.prepare(
    `INSERT INTO evaluations (run_id, hash, test_case_id, generation, score, success, failure, error, metrics, latency_ms, cost_usd,
       evaluation_cost_usd, attempts, response_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(run_id, hash, test_case_id) DO NOTHING`,
  );
  return records.map((e) =>
    statement.bind(
      runId,
      e.candidate,
      e.test_case_id,
      e.generation,
      e.score,
      e.success ? 1 : 0,
      e.failure,
      e.error,
      JSON.stringify(e.metrics),
      e.latency_ms,
      e.cost_usd,
      e.evaluation_cost_usd,
      e.attempts,
      e.response_excerpt.slice(0, EXCERPT_CHARS),
    ),
  );
}

/** Statements per D1 batch: a batch is one transaction, and a round of a large run has thousands of rows. */
const BATCH = 100;

/**
 * One round of a run: its evaluations (each (candidate, test case) once, so writing a round again changes
 * nothing) in batches, then the run's progress.
 */
export async function writeRound(db: D1Database, runId: string, records: readonly EvaluationRecord[], progress: Progress): Promise<void> {
  const statements = [...evaluationStatements(db, runId, records), progressStatement(db, runId, progress)];
  for (let i = 0; i < statements.length; i += BATCH) await db.batch(statements.slice(i, i + BATCH));
}

export async function finishRun(
  db: D1Database,
  runId: string,
  status: RunStatus,
  result: OptimizationResult,
  candidates: readonly CandidateRecord[],
): Promise<void> {
  const now = new Date().toISOString();
  const candidate = db.prepare(
    `INSERT INTO candidates (run_id, generation, position, hash, params, score, complete, dropped, metrics)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id, generation, position) DO NOTHING`,
  );
  const positions = new Map<number, number>();
  const rows = candidates.map((c) => {
    const position = positions.get(c.generation) ?? 0;
    positions.set(c.generation, position + 1);
    return candidate.bind(
      runId,
      c.generation,
      position,
      c.candidate,
      JSON.stringify(c.params),
      c.score,
      c.complete ? 1 : 0,
      c.dropped ? 1 : 0,
      JSON.stringify(c.metrics),
    );
  });
  const run = db
    .prepare(
      `UPDATE runs SET status = ?, finished_at = ?, updated_at = ?, result = ?, error = ?, best_score = ?, best_config = ?,
       target_calls = ?, generations_run = ? WHERE run_id = ?`,
    )
    .bind(
      status,
      now,
      now,
      JSON.stringify(result),
      result.success ? null : result.error,
      result.success ? result.best_score : (result.best_score ?? null),
      result.success ? JSON.stringify(result.best_config) : result.best_config ? JSON.stringify(result.best_config) : null,
      result.target_calls ?? 0,
      result.success ? result.generations_run : (result.history?.length ?? 0),
      runId,
    );
  // D1 batches are transactions: candidates in chunks, the run row last.
  for (let i = 0; i < rows.length; i += BATCH) await db.batch(rows.slice(i, i + BATCH));
  await db.batch([run]);
}

/** A run that could not start: failed, with why (its coordinator never ran it). */
export async function markFailed(db: D1Database, runId: string, error: string): Promise<void> {
  const now = new Date().toISOString();
  await db
    .prepare("UPDATE runs SET status = 'failed', error = ?, finished_at = ?, updated_at = ? WHERE run_id = ?")
    .bind(error, now, now, runId)
    .run();
}

/** Where the list of runs goes on from: the last run's (created_at, run_id). */
export type RunPosition = [createdAt: string, runId: string];

/** A page of the runs (of one system, when given), newest first (ties by id): every column but the result (which can be large). */
export async function listRuns(
  db: D1Database,
  { limit, system, after }: { limit: number; system?: string | undefined; after?: RunPosition | undefined },
): Promise<Page<Omit<RunRow, "result">, RunPosition>> {
  const columns = `runs.run_id, api_name, status, algorithm, seed, trigger, system, created_at, updated_at, finished_at, best_score,
    best_config, target_calls, generations_run, error`;
  const before = after ? "(created_at, run_id) < (?, ?)" : "";
  if (system === undefined) {
    const { results } = await db
      .prepare(`SELECT ${columns} FROM runs ${before && `WHERE ${before}`} ORDER BY created_at DESC, run_id DESC LIMIT ?`)
      .bind(...(after ?? []), limit + 1)
      .all<Omit<RunRow, "result">>();
    return pageOf(results, limit, (run): RunPosition => [run.created_at, run.run_id]);
  }
  // A system's runs are those scheduled for it and those promoted into it: the next page of each, by its index,
  // merged (a run that is both, once).
  const promotedBefore = after ? "AND (run_created_at, run_id) < (?, ?)" : "";
  const { results } = await db
    .prepare(
      `WITH chosen AS (
         SELECT run_id FROM (SELECT created_at, run_id FROM runs WHERE system = ? ${before && `AND ${before}`}
                             ORDER BY created_at DESC, run_id DESC LIMIT ?)
         UNION
         SELECT run_id FROM (SELECT run_created_at, run_id FROM run_promotions WHERE system = ? ${promotedBefore}
                             ORDER BY run_created_at DESC, run_id DESC LIMIT ?)
       )
       SELECT ${columns} FROM runs JOIN chosen ON chosen.run_id = runs.run_id
       ORDER BY created_at DESC, runs.run_id DESC LIMIT ?`,
    )
    .bind(system, ...(after ?? []), limit + 1, system, ...(after ?? []), limit + 1, limit + 1)
    .all<Omit<RunRow, "result">>();
  return pageOf(results, limit, (run): RunPosition => [run.created_at, run.run_id]);
}

/** Remember that a run's configs went into a system (GET /v1/runs?system= lists it there); once per pair. */
export async function recordPromotion(db: D1Database, runId: string, system: string): Promise<void> {
  await db
    .prepare(
      `INSERT OR IGNORE INTO run_promotions (run_id, system, run_created_at, promoted_at)
       SELECT run_id, ?, created_at, ? FROM runs WHERE run_id = ?`,
    )
    .bind(system, new Date().toISOString(), runId)
    .run();
}

/** The view of a run its coordinator never started (it failed before): what D1 knows. */
export function viewOfRow(row: RunRow): RunView {
  return {
    run_id: row.run_id,
    status: row.status,
    api_name: row.api_name,
    algorithm: row.algorithm,
    seed: row.seed,
    system: row.system,
    created_at: row.created_at,
    progress: {
      generation: 0,
      generations: 0,
      population_size: 0,
      test_cases: 0,
      max_calls: 0,
      target_calls: row.target_calls,
      in_flight: 0,
      best_score: row.best_score,
    },
    history: [],
    timeline: [],
    result: row.result ? (JSON.parse(row.result) as OptimizationResult) : row.error ? fail(row.error) : null,
  };
}

export async function getRunRow(db: D1Database, runId: string): Promise<RunRow | null> {
  return db.prepare("SELECT * FROM runs WHERE run_id = ?").bind(runId).first<RunRow>();
}

/** The best distinct fully scored configs of a run, best first. */
export async function bestConfigs(
  db: D1Database,
  runId: string,
  limit: number,
): Promise<{ params: Record<string, unknown>; score: number }[]> {
  const { results } = await db
    .prepare(
      "SELECT hash, params, MAX(score) AS score FROM candidates WHERE run_id = ? AND complete = 1 GROUP BY hash ORDER BY score DESC LIMIT ?",
    )
    .bind(runId, limit)
    .all<{ hash: string; params: string; score: number }>();
  return results.map((r) => ({ params: JSON.parse(r.params), score: r.score }));
}

interface EvaluationRow {
  hash: string;
  test_case_id: string;
  generation: number;
  score: number;
  success: number;
  failure: "target" | "evaluation" | null;
  error: string | null;
  metrics: string;
  latency_ms: number;
  cost_usd: number;
  evaluation_cost_usd: number;
  attempts: number;
  response_excerpt: string;
}

/** A page of a run's evaluations (of one candidate, when given), in the order they were written. */
export async function listEvaluations(
  db: D1Database,
  runId: string,
  page: { limit: number; offset: number; candidate?: string | undefined },
): Promise<RunEvaluation[]> {
  const query = page.candidate
    ? db
        .prepare("SELECT * FROM evaluations WHERE run_id = ? AND hash = ? ORDER BY rowid LIMIT ? OFFSET ?")
        .bind(runId, page.candidate, page.limit, page.offset)
    : db.prepare("SELECT * FROM evaluations WHERE run_id = ? ORDER BY rowid LIMIT ? OFFSET ?").bind(runId, page.limit, page.offset);
  const { results } = await query.all<EvaluationRow>();
  return results.map(({ hash, success, metrics, ...row }) => ({
    ...row,
    candidate: hash,
    success: success === 1,
    metrics: JSON.parse(metrics) as RunEvaluation["metrics"],
  }));
}
