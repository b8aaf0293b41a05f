/**
 * RunCoordinator: one optimization run, in a SQLite-backed Durable Object. It holds the same ask/tell study state
 * as the in-process SDK and fans each round's (candidate, test case) evaluations out on the evaluations queue,
 * keeping at most `parallel_workers` in flight. Consumers claim a task, evaluate it with the same target and
 * scoring code as the SDK, and report back; a report is kept once per (candidate, test case), so a redelivered
 * message changes nothing. When a round is in, the study is told and asked for the next. An alarm watches for
 * messages that went missing (a restart, a lost delivery) and sends them again. Cancelling stops the sending,
 * and consumers drop the run's messages.
 */
import { DurableObject } from "cloudflare:workers";
import type { CaseResult } from "../../src/evaluate/case.js";
import { studySettings } from "../../src/optimize/settings.js";
import { ask, bestOf, createStudy, type Evaluation, finish, type StudyState, tell } from "../../src/optimize/study.js";
import type { RunStatus, RunView } from "../../src/runs/schema.js";
import { assembleReport, type EvaluationRecord, maxCalls, nothingWorks } from "../../src/sdk/execute.js";
import { type OptimizationResult, toSeedResponse } from "../../src/sdk/response.js";
import type { ParamConfig } from "../../src/search/space.js";
import { promote } from "../db/promote";
import { finishRun, writeRound } from "../db/runs";
import type { Env, EvaluationMessage } from "../env";
import { evaluationBoundMs } from "../runs/evaluation-bound";
import { prepareInWorker } from "../runs/prepare";
import { migrate, readMeta, writeMeta } from "./schema";

/**
 * How often the watchdog looks, and how long a sent message may wait for a consumer to claim it before it is
 * sent again (a restart loses what the queue held; a delivery can be lost). A claimed evaluation is given the
 * run's evaluation bound instead (see evaluationBoundMs). The RUN_WATCHDOG_SECONDS var overrides the default.
 */
export const WATCHDOG_MS = 30_000;
/** After this many sends without a report, the evaluation counts as failed. */
export const MAX_SENDS = 5;

const STEPS: readonly string[] = [
  `CREATE TABLE study (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);
   CREATE TABLE tasks (
     key TEXT PRIMARY KEY,
     round INTEGER NOT NULL,
     hash TEXT NOT NULL,
     test_case_id TEXT NOT NULL,
     generation INTEGER NOT NULL,
     params TEXT NOT NULL,
     status TEXT NOT NULL,
     sends INTEGER NOT NULL DEFAULT 0,
     sent_at INTEGER,
     claimed_at INTEGER
   );
   CREATE INDEX tasks_by_status ON tasks (status, sent_at);
   CREATE TABLE results (key TEXT PRIMARY KEY, round INTEGER NOT NULL, cost REAL NOT NULL, record TEXT NOT NULL);`,
];

/** What a run is: stored once at start, read by consumers to evaluate. */
export interface RunSpec {
  run_id: string;
  /** The config as submitted (already validated by the route). */
  config: unknown;
  seed: number;
  trigger: "api" | "schedule";
  system: string | null;
  /** Warm start: configs the first generation tries. */
  initial_configs: ParamConfig[];
  /** Promote the best configs as arms of a system when the run succeeds. */
  promote: { system: string; agent_type?: string; top_k: number } | null;
  created_at: string;
}

/** What a consumer needs to evaluate one (candidate, test case). */
export interface Claim {
  params: ParamConfig;
  test_case_id: string;
}

interface TaskRow extends Record<string, SqlStorageValue> {
  key: string;
  round: number;
  hash: string;
  test_case_id: string;
  generation: number;
  params: string;
  status: string;
  sends: number;
  sent_at: number | null;
  claimed_at: number | null;
}

export class RunCoordinator extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private stateCache: StudyState | null = null;
  /**
   * Advancing awaits D1, and a Durable Object takes other calls meanwhile: the study is told and asked by one
   * step at a time, in order, or a round could be told twice.
   */
  private steps: Promise<unknown> = Promise.resolve();

  private serially<T>(step: () => Promise<T>): Promise<T> {
    const next = this.steps.then(step);
    this.steps = next.catch(() => {});
    return next;
  }

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx.storage, STEPS);
  }

  private spec(): RunSpec | null {
    const raw = readMeta(this.sql, "spec");
    return raw ? (JSON.parse(raw) as RunSpec) : null;
  }

  private status(): RunStatus {
    return (readMeta(this.sql, "status") as RunStatus | null) ?? "queued";
  }

  private setStatus(status: RunStatus): void {
    writeMeta(this.sql, "status", status);
  }

  private state(): StudyState {
    this.stateCache ??= JSON.parse(
      this.sql.exec<{ state: string }>("SELECT state FROM study WHERE id = 1").one().state as string,
    ) as StudyState;
    return this.stateCache;
  }

  private saveState(state: StudyState): void {
    this.stateCache = state;
    this.sql.exec(
      "INSERT INTO study (id, state) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state",
      JSON.stringify(state),
    );
  }

  private round(): number {
    return Number(readMeta(this.sql, "round") ?? 0);
  }

  /** Start the run (once: starting it again changes nothing). */
  async start(spec: RunSpec): Promise<RunView> {
    if (this.spec()) return this.view();
    const prepared = await prepareInWorker(this.env, spec.config);
    if (!prepared.ok) throw new Error(`invalid config: ${prepared.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`);
    const { config, testCases } = prepared.run;
    const state = createStudy({
      settings: studySettings(config.optimization, spec.initial_configs),
      space: config.search_space.parameters,
      testCases,
      seed: spec.seed,
    });
    writeMeta(this.sql, "spec", JSON.stringify(spec));
    writeMeta(this.sql, "parallel", String(config.optimization.execution.parallel_workers));
    writeMeta(this.sql, "evaluation_bound_ms", String(evaluationBoundMs(config)));
    writeMeta(this.sql, "shape", JSON.stringify({ test_cases: testCases.length, max_calls: maxCalls(prepared.run) }));
    const budget = config.optimization.execution.max_cost_usd;
    if (budget !== undefined) writeMeta(this.sql, "max_cost_usd", String(budget));
    writeMeta(this.sql, "api_name", config.api.name);
    writeMeta(this.sql, "warnings", JSON.stringify(prepared.run.warnings));
    this.saveState(state);
    this.setStatus("running");
    await this.serially(() => this.advance());
    return this.view();
  }

  /** The run's config, for consumers to prepare its target and scoring (once per isolate). */
  async config(): Promise<unknown> {
    return this.spec()?.config ?? null;
  }

  /** What consumers need to evaluate tasks, each null when the run no longer wants it (cancelled, done). */
  async claim(keys: string[]): Promise<(Claim | null)[]> {
    if (this.status() !== "running") return keys.map(() => null);
    const now = Date.now();
    return keys.map((key) => {
      const task = this.sql.exec<TaskRow>("SELECT * FROM tasks WHERE key = ? AND status = 'sent'", key).toArray()[0];
      if (!task) return null;
      // A redelivered message claims again: the report is kept once, whichever consumer sends it first.
      this.sql.exec("UPDATE tasks SET claimed_at = ? WHERE key = ?", now, key);
      return { params: JSON.parse(task.params) as ParamConfig, test_case_id: task.test_case_id };
    });
  }

  /** Consumers' results. Kept once per (candidate, test case): a repeated report changes nothing. */
  async report(results: { key: string; result: CaseResult }[]): Promise<void> {
    let kept = false;
    for (const { key, result } of results) kept = this.record(key, result) || kept;
    if (kept) await this.serially(() => this.advance());
  }

  /** Keep a result unless the run has one for this key already (or no longer runs); true when kept. */
  private record(key: string, result: CaseResult): boolean {
    if (this.status() !== "running") return false;
    const task = this.sql.exec<TaskRow>("SELECT * FROM tasks WHERE key = ?", key).toArray()[0];
    if (!task || task.status === "done") return false;
    const record: EvaluationRecord = {
      generation: task.generation,
      candidate: task.hash,
      params: JSON.parse(task.params) as ParamConfig,
      ...result,
    };
    this.sql.exec(
      "INSERT OR IGNORE INTO results (key, round, cost, record) VALUES (?, ?, ?, ?)",
      key,
      task.round,
      result.cost_usd + result.evaluation_cost_usd,
      JSON.stringify(record),
    );
    this.sql.exec("UPDATE tasks SET status = 'done' WHERE key = ?", key);
    return true;
  }

  async cancel(): Promise<RunView> {
    await this.serially(async () => {
      if (this.status() !== "running") return;
      this.saveState(finish(this.state(), "cancelled"));
      this.sql.exec("DELETE FROM tasks WHERE status != 'done'");
      await this.conclude(true);
    });
    return this.view();
  }

  /** The run as GET /v1/runs/{id} shows it. */
  async view(): Promise<RunView> {
    const spec = this.spec();
    if (!spec) throw new Error("no such run");
    const state = this.state();
    const inFlight = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM tasks WHERE status = 'sent'").one().n as number;
    const calls = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM results").one().n as number;
    const result = readMeta(this.sql, "result");
    return {
      run_id: spec.run_id,
      status: this.status(),
      api_name: readMeta(this.sql, "api_name") ?? "",
      algorithm: state.settings.algorithm,
      seed: spec.seed,
      system: spec.system,
      created_at: spec.created_at,
      progress: {
        generation: Math.max(0, state.generation + 1),
        generations: state.settings.generations,
        population_size: state.settings.populationSize,
        ...(JSON.parse(readMeta(this.sql, "shape") ?? "{}") as { test_cases: number; max_calls: number }),
        target_calls: calls,
        in_flight: inFlight,
        best_score: bestOf(state)?.score ?? null,
      },
      history: state.history,
      result: result ? (JSON.parse(result) as OptimizationResult) : null,
    };
  }

  private records(round?: number): EvaluationRecord[] {
    const rows =
      round === undefined
        ? this.sql.exec<{ record: string }>("SELECT record FROM results").toArray()
        : this.sql.exec<{ record: string }>("SELECT record FROM results WHERE round = ?", round).toArray();
    return rows.map((r) => JSON.parse(r.record) as EvaluationRecord);
  }

  private count(query: string): number {
    return this.sql.exec<{ n: number }>(query).one().n as number;
  }

  /** max_cost_usd, as the in-process executor holds it: no new call once it is spent, then the run ends. */
  private overBudget(): boolean {
    const budget = readMeta(this.sql, "max_cost_usd");
    if (budget === null) return false;
    const spent = this.sql.exec<{ spent: number | null }>("SELECT SUM(cost) AS spent FROM results").one().spent ?? 0;
    return spent >= Number(budget);
  }

  /** Tell the study a finished round, ask for the next, send what may be sent; conclude when the study is done. */
  private async advance(): Promise<void> {
    for (;;) {
      if (this.status() !== "running") return;
      const overBudget = this.overBudget();
      if (this.count("SELECT COUNT(*) AS n FROM tasks WHERE status != 'done'") > 0) {
        if (!overBudget) return this.dispatch();
        if (this.count("SELECT COUNT(*) AS n FROM tasks WHERE status = 'sent'") > 0) return;
        // The budget is spent: what was not sent never will be, and the round is told what came in.
        this.sql.exec("DELETE FROM tasks WHERE status = 'waiting'");
      }
      let state = this.state();
      const round = this.round();
      const finished = this.records(round);
      if (finished.length > 0 && Object.keys(state.pending).length > 0) {
        state = tell(
          state,
          finished.map((r) => ({
            hash: r.candidate,
            testCaseId: r.test_case_id,
            score: r.score,
            cost: r.cost_usd + r.evaluation_cost_usd,
          })),
        );
        const best = bestOf(state);
        await writeRound(this.env.DB, (this.spec() as RunSpec).run_id, finished, {
          status: "running",
          target_calls: this.count("SELECT COUNT(*) AS n FROM results"),
          generations_run: state.history.length,
          best_score: best?.score ?? null,
          best_config: best?.config ?? null,
        });
      }
      if (state.status === "running" && (overBudget || nothingWorks(this.records()))) {
        this.saveState(finish(state, overBudget ? "max_cost_usd" : "all_failed"));
        return this.conclude(false);
      }
      const asked = ask(state);
      this.saveState(asked.state);
      if (asked.state.status === "done") return this.conclude(false);
      if (asked.evaluations.length === 0) continue;
      const next = round + 1;
      writeMeta(this.sql, "round", String(next));
      this.sql.exec("DELETE FROM tasks WHERE status = 'done'");
      for (const e of asked.evaluations) this.addTask(next, e);
      return this.dispatch();
    }
  }

  private addTask(round: number, e: Evaluation): void {
    this.sql.exec(
      "INSERT INTO tasks (key, round, hash, test_case_id, generation, params, status) VALUES (?, ?, ?, ?, ?, ?, 'waiting')",
      `${e.hash}|${e.testCaseId}`,
      round,
      e.hash,
      e.testCaseId,
      e.generation,
      JSON.stringify(e.config),
    );
  }

  /** Send waiting tasks while fewer than parallel_workers are in flight; keep the watchdog alarm set. */
  private async dispatch(): Promise<void> {
    const parallel = Number(readMeta(this.sql, "parallel") ?? 5);
    const inFlight = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM tasks WHERE status = 'sent'").one().n as number;
    const room = parallel - inFlight;
    if (room > 0) {
      const waiting = this.sql.exec<TaskRow>("SELECT * FROM tasks WHERE status = 'waiting' ORDER BY rowid LIMIT ?", room).toArray();
      await this.send(waiting);
    }
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null) await this.ctx.storage.setAlarm(Date.now() + this.watchdogMs());
  }

  private watchdogMs(): number {
    const seconds = Number(this.env.RUN_WATCHDOG_SECONDS);
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : WATCHDOG_MS;
  }

  private async send(tasks: readonly TaskRow[]): Promise<void> {
    if (tasks.length === 0) return;
    const runId = (this.spec() as RunSpec).run_id;
    const now = Date.now();
    // Marked first: a consumer may claim before sendBatch returns. Should the send fail, the watchdog resends.
    for (const t of tasks) {
      this.sql.exec("UPDATE tasks SET status = 'sent', sends = sends + 1, sent_at = ?, claimed_at = NULL WHERE key = ?", now, t.key);
    }
    for (let i = 0; i < tasks.length; i += 100) {
      const messages: MessageSendRequest<EvaluationMessage>[] = tasks
        .slice(i, i + 100)
        .map((t) => ({ body: { run_id: runId, key: t.key } }));
      await this.env.EVALUATIONS.sendBatch(messages);
    }
  }

  /**
   * The watchdog: a message no consumer claimed in time, or an evaluation claimed but not reported within the
   * run's evaluation bound, is sent again; too many sends count as a failed evaluation.
   */
  override async alarm(): Promise<void> {
    await this.serially(() => this.watch());
  }

  private async watch(): Promise<void> {
    if (this.status() !== "running") return;
    const now = Date.now();
    const bound = Number(readMeta(this.sql, "evaluation_bound_ms") ?? 600_000);
    const lost = this.sql
      .exec<TaskRow>(
        `SELECT * FROM tasks WHERE status = 'sent'
           AND ((claimed_at IS NULL AND sent_at <= ?) OR (claimed_at IS NOT NULL AND claimed_at <= ?))`,
        now - this.watchdogMs(),
        now - bound,
      )
      .toArray();
    const resend: TaskRow[] = [];
    for (const task of lost) {
      if (task.sends < MAX_SENDS) {
        resend.push(task);
        continue;
      }
      const failed: CaseResult = {
        test_case_id: task.test_case_id,
        score: 0,
        metrics: {},
        success: false,
        error: `the evaluation was sent ${task.sends} times without a report`,
        failure: "evaluation",
        latency_ms: 0,
        cost_usd: 0,
        evaluation_cost_usd: 0,
        input_tokens: null,
        output_tokens: null,
        attempts: 0,
        response_excerpt: "",
      };
      this.record(task.key, failed);
    }
    await this.send(resend);
    await this.advance();
    // Set again explicitly: inside its own handler the alarm that is running may still read as set.
    if (this.status() === "running") await this.ctx.storage.setAlarm(Date.now() + this.watchdogMs());
  }

  private async conclude(cancelled: boolean): Promise<void> {
    const spec = this.spec() as RunSpec;
    const state = this.state();
    const report = assembleReport({
      runId: spec.run_id,
      apiName: readMeta(this.sql, "api_name") ?? "",
      seed: spec.seed,
      startedAt: new Date(spec.created_at),
      state,
      evaluations: this.records(),
      warnings: JSON.parse(readMeta(this.sql, "warnings") ?? "[]"),
      cancelled,
    });
    const result = toSeedResponse(report);
    const status: RunStatus = cancelled ? "cancelled" : result.success ? "succeeded" : "failed";
    writeMeta(this.sql, "result", JSON.stringify(result));
    this.setStatus(status);
    await this.ctx.storage.deleteAlarm();
    await writeRound(this.env.DB, spec.run_id, this.records(this.round()), {
      status,
      target_calls: report.target_calls,
      generations_run: report.generations_run,
      best_score: report.best?.score ?? null,
      best_config: report.best?.config ?? null,
    });
    await finishRun(this.env.DB, spec.run_id, status, result, report.candidates);
    if (status === "succeeded" && spec.promote) await promote(this.env.DB, spec.promote, spec.run_id, report.candidates);
  }
}
