/**
 * RunCoordinator: one optimization run, in a SQLite-backed Durable Object. It holds the same ask/tell study state
 * as the in-process SDK and fans each round's (candidate, test case) evaluations out on the evaluations queue,
 * keeping at most `parallel_workers` in flight. Consumers claim a task, evaluate it with the same target and
 * scoring code as the SDK, and report back; a report is kept once per (candidate, test case), so a redelivered
 * message changes nothing. When a round is in, the study is told and asked for the next. An alarm watches for
 * messages that went missing (a restart, a lost delivery) and sends them again. Cancelling stops the sending,
 * and consumers drop the run's messages. When the run ends its results are published to D1 (and its winners
 * promoted); until that has succeeded, the alarm keeps retrying it.
 */
import { DurableObject } from "cloudflare:workers";
import type { CaseResult } from "../../src/evaluate/case.js";
import { utf8Length } from "../../src/json.js";
import type { Candidate } from "../../src/optimize/schema.js";
import { studySettings } from "../../src/optimize/settings.js";
import { type Evaluation, Study } from "../../src/optimize/study.js";
import { STUDY_CONTROL_LIMIT_BYTES } from "../../src/run/bounds.js";
import { RunDriver } from "../../src/run/driver.js";
import { countCall, countOutcome, type Ledger, newLedger } from "../../src/run/ledger.js";
import type { Prepared } from "../../src/run/prepare.js";
import { maxCalls, type SocietyCalls } from "../../src/run/report.js";
import type { EvaluationRecord, Generalization, RunReport, RunStatus, RunView } from "../../src/run/schema.js";
import { type OptimizationResult, toSeedResponse } from "../../src/sdk/response.js";
import type { ParamConfig } from "../../src/search/space.js";
import { checkGeneralization } from "../../src/society/generalize.js";
import { collectsPreferences, type PreferencePair, runPreferences } from "../../src/society/preferences.js";
import { askProposer, newSocietyState, type SocietyState } from "../../src/society/rlp-step.js";
import { PromoteError, type PromoteRequest, promote } from "../db/promote";
import { finishRun, writeRound } from "../db/runs";
import type { Env, EvaluationMessage } from "../env";
import { evaluationBoundMs } from "../runs/evaluation-bound";
import { prepareInWorker } from "../runs/prepare";
import { migrate, readMeta, writeMeta } from "./schema";
import { readControl, SqlStudyFacts, STUDY_TABLES, upgradeLegacyStudy, writeControl } from "./study-tables";

/**
 * How often the watchdog looks, and how long a sent message may wait for a consumer to claim it before it is
 * sent again (a restart loses what the queue held; a delivery can be lost). A claimed evaluation is given the
 * run's evaluation bound instead (see evaluationBoundMs). The RUN_WATCHDOG_SECONDS var overrides the default.
 */
const WATCHDOG_MS = 30_000;
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
  // Target calls over time, a point per told round (the dashboard's chart).
  "CREATE TABLE timeline (elapsed_ms INTEGER NOT NULL, target_calls INTEGER NOT NULL);",
  // The study as a bounded control row and a row per fact (study-tables.ts); a call counted per claim.
  `${STUDY_TABLES}
   ALTER TABLE tasks ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;`,
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
  /** Promote the best configs as arms of a system when the run succeeds (scheduled runs replace earlier winners). */
  promote: PromoteRequest | null;
  /** The host the run was started through: its calls may not reach it. Absent in specs written before. */
  own_hosts?: string[];
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
  claims: number;
}

/** The study of a run, its facts and its driver, loaded once per instance. */
interface LoadedRun {
  study: Study;
  facts: SqlStudyFacts;
  driver: RunDriver;
}

export class RunCoordinator extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private loaded: LoadedRun | null = null;
  private ledgerCache: Ledger | null = null;
  /** The spec never changes once written, and it holds the whole config: parsed once per instance. */
  private specCache: RunSpec | null = null;
  /**
   * Advancing awaits D1 and the queue, and a Durable Object takes other calls meanwhile: the study is told and
   * asked by one step at a time, in order, or a round could be told twice.
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
    if (this.specCache) return this.specCache;
    const raw = readMeta(this.sql, "spec");
    this.specCache = raw ? (JSON.parse(raw) as RunSpec) : null;
    return this.specCache;
  }

  private status(): RunStatus {
    return (readMeta(this.sql, "status") as RunStatus | null) ?? "queued";
  }

  private setStatus(status: RunStatus): void {
    writeMeta(this.sql, "status", status);
  }

  private number(key: string): number {
    return Number(readMeta(this.sql, key) ?? 0);
  }

  /** The run's study and driver, read from SQLite once (and again after a failed step dropped them). */
  private run(): LoadedRun {
    if (this.loaded) return this.loaded;
    upgradeLegacyStudy(this.sql);
    const control = readControl(this.sql);
    if (!control) throw new Error("the run has no study");
    const facts = new SqlStudyFacts(this.sql);
    const study = new Study(control, facts);
    const budget = readMeta(this.sql, "max_cost_usd");
    this.loaded = { study, facts, driver: new RunDriver(study, { maxCostUsd: budget === null ? null : Number(budget) }) };
    return this.loaded;
  }

  /** What the run has sent, been told and spent. Every change is written at once: claims and reports make them. */
  private ledger(): Ledger {
    if (this.ledgerCache) return this.ledgerCache;
    const stored = readMeta(this.sql, "ledger");
    if (stored) this.ledgerCache = JSON.parse(stored) as Ledger;
    else {
      // A run started by an earlier version kept its counts apart, and counted a call per report.
      const results = this.number("results");
      this.ledgerCache = { ...newLedger(), calls: results, results, successes: this.number("successes"), spent: this.number("spent") };
    }
    return this.ledgerCache;
  }

  private saveLedger(): void {
    writeMeta(this.sql, "ledger", JSON.stringify(this.ledger()));
  }

  /** Save the study's control state and new facts (inside a transaction). */
  private saveStudy(run: LoadedRun, control = JSON.stringify(run.study.control)): void {
    run.facts.save();
    writeControl(this.sql, control);
  }

  private count(query: string): number {
    return this.sql.exec<{ n: number }>(query).one().n as number;
  }

  /** Evaluations sent and not yet reported. */
  private inFlight(): number {
    return this.count("SELECT COUNT(*) AS n FROM tasks WHERE status = 'sent'");
  }

  private watchdogMs(): number {
    const seconds = Number(this.env.RUN_WATCHDOG_SECONDS);
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : WATCHDOG_MS;
  }

  private armWatchdog(): Promise<void> {
    return this.ctx.storage.setAlarm(Date.now() + this.watchdogMs());
  }

  /** Start the run (once: starting it again changes nothing). Throws only when it could not be started at all. */
  async start(spec: RunSpec): Promise<RunView> {
    if (this.spec()) return this.view() as Promise<RunView>;
    const prepared = await this.prepare(spec);
    if (!prepared.ok) throw new Error(`invalid config: ${prepared.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`);
    const { config, testCases } = prepared.run;
    const budget = config.optimization.execution.max_cost_usd;
    this.ctx.storage.transactionSync(() => {
      writeMeta(this.sql, "spec", JSON.stringify(spec));
      writeMeta(this.sql, "parallel", String(config.optimization.execution.parallel_workers));
      writeMeta(this.sql, "evaluation_bound_ms", String(evaluationBoundMs(config)));
      writeMeta(this.sql, "shape", JSON.stringify({ test_cases: testCases.length, max_calls: maxCalls(prepared.run) }));
      if (budget !== undefined) writeMeta(this.sql, "max_cost_usd", String(budget));
      writeMeta(this.sql, "api_name", config.api.name);
      writeMeta(this.sql, "warnings", JSON.stringify(prepared.run.warnings));
      if (prepared.run.society) writeMeta(this.sql, "society", JSON.stringify(newSocietyState()));
      const facts = new SqlStudyFacts(this.sql);
      const settings = studySettings(config.optimization, spec.initial_configs);
      const study = Study.create({ settings, space: config.search_space.parameters, testCases, seed: spec.seed }, facts);
      this.loaded = { study, facts, driver: new RunDriver(study, { maxCostUsd: budget ?? null }) };
      this.saveStudy(this.loaded);
      this.saveLedger();
      this.setStatus("running");
    });
    // From here on the watchdog owns the run: whatever fails below (a queue send), it retries.
    await this.armWatchdog();
    try {
      await this.serially(() => this.advance());
    } catch (error) {
      console.error(`run ${spec.run_id}: first round not sent yet, the watchdog retries:`, error instanceof Error ? error.message : error);
    }
    return this.view() as Promise<RunView>;
  }

  /** The run's config and own hosts, for consumers to prepare its target and scoring (once per isolate). */
  async config(): Promise<{ config: unknown; own_hosts: string[] } | null> {
    const spec = this.spec();
    return spec ? { config: spec.config, own_hosts: spec.own_hosts ?? [] } : null;
  }

  /** What consumers need to evaluate tasks, each null when the run no longer wants it (cancelled, done). */
  async claim(keys: string[]): Promise<(Claim | null)[]> {
    if (this.status() !== "running") return keys.map(() => null);
    const now = Date.now();
    return this.ctx.storage.transactionSync(() => {
      const claims = keys.map((key) => {
        const task = this.sql.exec<TaskRow>("SELECT * FROM tasks WHERE key = ? AND status = 'sent'", key).toArray()[0];
        if (!task) return null;
        // A claim is a call to the target. A redelivered message claims again (the report is kept once,
        // whichever consumer sends it first), and its call counts too: the target received it.
        this.sql.exec("UPDATE tasks SET claimed_at = ?, claims = claims + 1 WHERE key = ?", now, key);
        countCall(this.ledger(), task.claims > 0);
        return { params: JSON.parse(task.params) as ParamConfig, test_case_id: task.test_case_id };
      });
      this.saveLedger();
      return claims;
    });
  }

  /**
   * Consumers' results. Kept once per (candidate, test case): a repeated report changes nothing. The run is
   * advanced even then, so a report retried after a failed advance (D1 down) moves the run on.
   */
  async report(results: { key: string; result: CaseResult }[]): Promise<void> {
    for (const { key, result } of results) this.record(key, result);
    await this.serially(() => this.advance());
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
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        "INSERT OR IGNORE INTO results (key, round, cost, record) VALUES (?, ?, ?, ?)",
        key,
        task.round,
        result.cost_usd + result.evaluation_cost_usd,
        JSON.stringify(record),
      );
      this.sql.exec("UPDATE tasks SET status = 'done' WHERE key = ?", key);
      countOutcome(this.ledger(), result);
      this.saveLedger();
    });
    return true;
  }

  /** Stop: nothing more is sent, what is queued is dropped, and what came in of this round counts (as in process). */
  async cancel(): Promise<RunView | null> {
    await this.serially(async () => {
      if (this.status() !== "running") return;
      const run = this.run();
      try {
        run.driver.advanceNow(this.ledger(), this.records(this.number("round")).map(toResult), { cancelled: true });
        this.ctx.storage.transactionSync(() => {
          this.saveStudy(run);
          this.sql.exec("DELETE FROM tasks WHERE status != 'done'");
          // A round adds its point when it is told; the cancelled round is not, so the timeline would end short.
          this.sql.exec(
            "INSERT INTO timeline (elapsed_ms, target_calls) VALUES (?, ?)",
            Date.now() - Date.parse((this.spec() as RunSpec).created_at),
            this.ledger().calls,
          );
        });
      } catch (error) {
        this.loaded = null;
        throw error;
      }
      await this.conclude(true);
    });
    return this.view();
  }

  /** The run as GET /v1/runs/{id} shows it; null when it was never started here. */
  async view(): Promise<RunView | null> {
    const spec = this.spec();
    if (!spec) return null;
    const { study } = this.run();
    const control = study.control;
    const result = readMeta(this.sql, "result");
    return {
      run_id: spec.run_id,
      status: this.status(),
      api_name: readMeta(this.sql, "api_name") ?? "",
      algorithm: control.settings.algorithm,
      seed: spec.seed,
      system: spec.system,
      created_at: spec.created_at,
      progress: {
        generation: Math.max(0, control.generation + 1),
        generations: control.settings.generations,
        population_size: control.settings.populationSize,
        ...(JSON.parse(readMeta(this.sql, "shape") ?? "{}") as { test_cases: number; max_calls: number }),
        target_calls: this.ledger().calls,
        in_flight: this.inFlight(),
        best_score: study.best()?.score ?? null,
      },
      history: [...study.facts.history()],
      timeline: this.sql
        .exec<{ elapsed_ms: number; target_calls: number }>("SELECT elapsed_ms, target_calls FROM timeline ORDER BY rowid")
        .toArray(),
      result: result ? (JSON.parse(result) as OptimizationResult) : null,
    };
  }

  /** Every candidate scored so far, with its params: the live view of the dashboard's parameter charts. */
  async candidates(): Promise<Candidate[]> {
    return this.spec() ? this.run().study.candidates() : [];
  }

  /** One candidate's results: their keys are `hash|test case`, so a range of the primary key. */
  private answersOf(candidate: string): EvaluationRecord[] {
    return this.sql
      .exec<{ record: string }>("SELECT record FROM results WHERE key > ? AND key < ?", `${candidate}|`, `${candidate}}`)
      .toArray()
      .map((r) => JSON.parse(r.record) as EvaluationRecord);
  }

  private records(round?: number): EvaluationRecord[] {
    const rows =
      round === undefined
        ? this.sql.exec<{ record: string }>("SELECT record FROM results").toArray()
        : this.sql.exec<{ record: string }>("SELECT record FROM results WHERE round = ?", round).toArray();
    return rows.map((r) => JSON.parse(r.record) as EvaluationRecord);
  }

  /**
   * Tell the study a finished round and ask for the next (the driver applies every run rule), send what may be
   * sent; conclude when the run is done. The study changes in memory first and is saved with the round's tasks in
   * one transaction; should anything fail before, the loaded study is dropped and read again from SQLite.
   */
  private async advance(): Promise<void> {
    for (;;) {
      if (this.status() !== "running") return;
      const run = this.run();
      const ledger = this.ledger();
      if (this.count("SELECT COUNT(*) AS n FROM tasks WHERE status != 'done'") > 0) {
        if (run.driver.maySend(ledger)) return this.dispatch();
        if (this.inFlight() > 0) return;
        // No more may be sent (the budget is spent): what was not sent never will be, and the round is told.
        this.sql.exec("DELETE FROM tasks WHERE status = 'waiting'");
      }
      const round = this.number("round");
      const finished = this.records(round);
      let next: Evaluation[];
      try {
        next = await this.stepDriver(run, ledger, finished);
      } catch (error) {
        this.loaded = null;
        if (!isStorageLimit(error)) throw error;
        return this.abandon(error);
      }
      if (next.length === 0) return this.conclude(false);
      await this.dispatch();
      return this.askProposer(run, ledger);
    }
  }

  /** The run's config prepared as the worker prepares it, once per instance (the society's proposer, SAO's pairs). */
  private prepared: Promise<Prepared> | null = null;

  private prepare(spec: RunSpec): Promise<Prepared> {
    this.prepared ??= prepareInWorker(this.env, spec.config, { runId: spec.run_id, ownHosts: spec.own_hosts ?? [] });
    return this.prepared;
  }

  /** SAO's preference pairs from this run's answers so far; null when the run does not collect them. */
  async preferences(page: { offset: number; limit: number }): Promise<{ pairs: PreferencePair[]; total: number } | null> {
    const spec = this.spec();
    if (!spec) return null;
    const prepared = await this.prepare(spec);
    if (!prepared.ok || !collectsPreferences(prepared.run.config)) return null;
    const all = runPreferences(prepared.run.config, this.records(), prepared.run.testCases) ?? [];
    // A page at a time: a run of many test cases holds more pairs (of answers up to 4,000 characters) than one answer should.
    return { pairs: all.slice(page.offset, page.offset + page.limit), total: all.length };
  }

  /**
   * RLP on the service, as in process (askProposer): at a generation's start its model is asked while the
   * generation's evaluations are out, and what it proposes is saved with the study before the next round is told
   * (advance runs one step at a time, so that round waits for it).
   */
  private async askProposer(run: LoadedRun, ledger: Ledger): Promise<void> {
    const spec = this.spec() as RunSpec;
    const raw = readMeta(this.sql, "society");
    if (raw === null) return;
    const prepared = await this.prepare(spec);
    if (!prepared.ok || !prepared.run.society) return;
    const state = JSON.parse(raw) as SocietyState;
    const askedBefore = state.asked;
    const asked = askProposer(prepared.run.society, state, {
      study: run.study,
      config: prepared.run.config,
      answersOf: (candidate) => this.answersOf(candidate),
      ledger,
    });
    if (!asked) {
      // Most steps are not a generation's start: nothing to write then.
      if (state.asked !== askedBefore) writeMeta(this.sql, "society", JSON.stringify(state));
      return;
    }
    await asked;
    this.ctx.storage.transactionSync(() => {
      this.saveStudy(run);
      this.saveLedger();
      writeMeta(this.sql, "society", JSON.stringify(state));
    });
  }

  /** One driver step: told, asked, published to D1 and saved with its tasks; the next round's evaluations. */
  private async stepDriver(run: LoadedRun, ledger: Ledger, finished: EvaluationRecord[]): Promise<Evaluation[]> {
    const spec = this.spec() as RunSpec;
    const round = this.number("round");
    // A macrotask between candidates: a large generation never holds this isolate's other requests for long.
    const steps = run.driver.advance(ledger, finished.map(toResult));
    let step = steps.next();
    while (!step.done) {
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      step = steps.next();
    }
    let next = step.value;
    let control = JSON.stringify(run.study.control);
    if (utf8Length(control) > STUDY_CONTROL_LIMIT_BYTES) {
      // The round asked for more than the run can keep: the run ends here, cleanly, rather than never.
      run.driver.abandon("state_limit", ledger);
      next = [];
      control = JSON.stringify(run.study.control);
    }
    if (finished.length > 0) {
      const best = run.study.best();
      // Idempotent: should saving below fail, the next advance tells the same round again and writes it again.
      await writeRound(this.env.DB, spec.run_id, finished, {
        status: "running",
        target_calls: ledger.calls,
        generations_run: run.study.facts.history().length,
        best_score: best?.score ?? null,
        best_config: best?.config ?? null,
      });
    }
    this.ctx.storage.transactionSync(() => {
      this.saveStudy(run, control);
      if (finished.length > 0) {
        this.sql.exec(
          "INSERT INTO timeline (elapsed_ms, target_calls) VALUES (?, ?)",
          Date.now() - Date.parse(spec.created_at),
          ledger.calls,
        );
      }
      if (next.length === 0) return;
      writeMeta(this.sql, "round", String(round + 1));
      this.sql.exec("DELETE FROM tasks WHERE status = 'done'");
      for (const e of next) this.addTask(round + 1, e);
    });
    return next;
  }

  /** A row the run needed was refused as too big: the run ends failed with state_limit, from what was saved. */
  private async abandon(error: unknown): Promise<void> {
    console.error(
      `run ${(this.spec() as RunSpec).run_id}: its state outgrew storage, the run ends:`,
      error instanceof Error ? error.message : error,
    );
    const run = this.run();
    run.driver.abandon("state_limit", this.ledger());
    this.ctx.storage.transactionSync(() => {
      this.saveStudy(run);
      this.sql.exec("DELETE FROM tasks WHERE status != 'done'");
    });
    await this.conclude(false);
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

  /** Send waiting tasks while fewer than parallel_workers are in flight. */
  private async dispatch(): Promise<void> {
    const parallel = this.number("parallel") || 5;
    const room = parallel - this.inFlight();
    if (room <= 0) return;
    const waiting = this.sql.exec<TaskRow>("SELECT * FROM tasks WHERE status = 'waiting' ORDER BY rowid LIMIT ?", room).toArray();
    await this.send(waiting);
  }

  private async send(tasks: readonly TaskRow[]): Promise<void> {
    if (tasks.length === 0) return;
    const runId = (this.spec() as RunSpec).run_id;
    const now = Date.now();
    // Marked first: a consumer may claim before sendBatch returns. Should the send fail, the watchdog resends.
    this.ctx.storage.transactionSync(() => {
      for (const t of tasks) {
        this.sql.exec("UPDATE tasks SET status = 'sent', sends = sends + 1, sent_at = ?, claimed_at = NULL WHERE key = ?", now, t.key);
      }
    });
    for (let i = 0; i < tasks.length; i += 100) {
      const messages: MessageSendRequest<EvaluationMessage>[] = tasks
        .slice(i, i + 100)
        .map((t) => ({ body: { run_id: runId, key: t.key } }));
      await this.env.EVALUATIONS.sendBatch(messages);
    }
  }

  /**
   * The watchdog: a message no consumer claimed in time, or an evaluation claimed but not reported within the
   * run's evaluation bound, is sent again; too many sends count as a failed evaluation. A finished run whose
   * results are not yet in D1 is published again.
   */
  override async alarm(): Promise<void> {
    await this.serially(() => this.watch());
  }

  private async watch(): Promise<void> {
    if (readMeta(this.sql, "published") === "0") {
      await this.armWatchdog();
      await this.publish();
      return;
    }
    if (this.status() !== "running") return;
    // Armed first: should anything below throw, the watchdog still comes back.
    await this.armWatchdog();
    const now = Date.now();
    const lost = this.sql
      .exec<TaskRow>(
        `SELECT * FROM tasks WHERE status = 'sent'
           AND ((claimed_at IS NULL AND sent_at <= ?) OR (claimed_at IS NOT NULL AND claimed_at <= ?))`,
        now - this.watchdogMs(),
        now - this.number("evaluation_bound_ms"),
      )
      .toArray();
    const resend: TaskRow[] = [];
    const { driver } = this.run();
    for (const task of lost) {
      if (!driver.maySend(this.ledger())) {
        // No new call once the budget is spent: a lost evaluation is given up, and the round ends without it.
        this.sql.exec("DELETE FROM tasks WHERE key = ?", task.key);
      } else if (task.sends < MAX_SENDS) {
        resend.push(task);
      } else {
        this.record(task.key, lostResult(task));
      }
    }
    await this.send(resend);
    await this.advance();
  }

  /** The run ended: keep its result and status, then publish them. */
  private async conclude(cancelled: boolean): Promise<void> {
    const spec = this.spec() as RunSpec;
    if (!cancelled) await this.checkGeneralization(spec);
    const report = this.runReport(spec);
    const result = toSeedResponse(report);
    const status: RunStatus = cancelled ? "cancelled" : result.success ? "succeeded" : "failed";
    this.ctx.storage.transactionSync(() => {
      writeMeta(this.sql, "result", JSON.stringify(result));
      writeMeta(this.sql, "published", "0");
      this.setStatus(status);
    });
    await this.armWatchdog();
    await this.publish(report);
  }

  /**
   * SAO, once the run is over: the best config on variations of its weakest test cases, scored here (a few calls:
   * at most three cases, two variations each), kept with the run so a report built again holds it.
   */
  private async checkGeneralization(spec: RunSpec): Promise<void> {
    if (readMeta(this.sql, "generalization") !== null) return;
    const prepared = await this.prepare(spec);
    const run = this.run();
    const best = run.study.best();
    const writer = prepared.ok ? prepared.run.society?.writer : null;
    const ledger = this.ledger();
    if (!prepared.ok || !writer || !best || !run.driver.mayWorkAfterwards(ledger)) return;
    const checked = await checkGeneralization({
      writer,
      best,
      testCases: prepared.run.testCases,
      evaluations: this.records(),
      target: prepared.run.target,
      scoring: prepared.run.scoring,
      ledger,
    }).catch((error: unknown) => {
      console.error(`run ${spec.run_id}: the generalization check failed:`, error instanceof Error ? error.message : error);
      return null;
    });
    this.ctx.storage.transactionSync(() => {
      this.saveLedger();
      if (checked) writeMeta(this.sql, "generalization", JSON.stringify(checked));
    });
  }

  private runReport(spec: RunSpec): RunReport {
    return this.run().driver.report({
      runId: spec.run_id,
      apiName: readMeta(this.sql, "api_name") ?? "",
      seed: spec.seed,
      startedAt: new Date(spec.created_at),
      ledger: this.ledger(),
      evaluations: this.records(),
      warnings: JSON.parse(readMeta(this.sql, "warnings") ?? "[]"),
      ...this.societyCalls(),
      ...this.generalization(),
    });
  }

  private generalization(): { generalization?: Generalization } {
    const raw = readMeta(this.sql, "generalization");
    return raw === null ? {} : { generalization: JSON.parse(raw) as Generalization };
  }

  private societyCalls(): { society?: SocietyCalls } {
    const raw = readMeta(this.sql, "society");
    return raw === null ? {} : { society: (JSON.parse(raw) as SocietyState).calls };
  }

  /**
   * The finished run into D1, its winners promoted: every write idempotent, retried by the alarm until done.
   * `report`: the one conclude just built; the alarm's retry builds it again.
   */
  private async publish(built?: RunReport): Promise<void> {
    const spec = this.spec() as RunSpec;
    const status = this.status();
    const result = JSON.parse(readMeta(this.sql, "result") as string) as OptimizationResult;
    const report = built ?? this.runReport(spec);
    await writeRound(this.env.DB, spec.run_id, this.records(this.number("round")), {
      status,
      target_calls: report.target_calls,
      generations_run: report.generations_run,
      best_score: report.best?.score ?? null,
      best_config: report.best?.config ?? null,
    });
    await finishRun(this.env.DB, spec.run_id, status, result, report.candidates);
    if (status === "succeeded" && spec.promote) {
      try {
        await promote(this.env, spec.promote, spec.run_id, report.candidates);
      } catch (error) {
        if (!(error instanceof PromoteError)) throw error;
        // Not retried: the system refuses these arms (too many, another agent type); the run itself stands.
        console.error(`run ${spec.run_id}: could not promote to ${spec.promote.system}: ${error.message}`);
      }
    }
    writeMeta(this.sql, "published", "1");
    await this.ctx.storage.deleteAlarm();
  }
}

function toResult(r: EvaluationRecord) {
  return { hash: r.candidate, testCaseId: r.test_case_id, score: r.score };
}

/** SQLite refused a row or value as too big (a Durable Object row holds 2 MB). */
function isStorageLimit(error: unknown): boolean {
  return error instanceof Error && /SQLITE_TOOBIG|too big|string or blob too big/i.test(error.message);
}

function lostResult(task: TaskRow): CaseResult {
  return {
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
}
