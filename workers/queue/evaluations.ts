/**
 * The evaluations consumer: each message names a run and a (candidate, test case). The consumer claims it from the
 * run's coordinator (a cancelled or finished run answers null, and the message is dropped), evaluates it with
 * the SDK's own target and scoring code, and reports the result. Failures of the team's API are results, not
 * errors; only an unreachable coordinator makes the message retry (then the dead-letter queue).
 */
import { type CaseResult, scoreCase } from "../../src/evaluate/case.js";
import type { PreparedRun } from "../../src/run/prepare.js";
import type { Env, EvaluationMessage } from "../env";
import type { Claim } from "../objects/run-coordinator";
import { prepareInWorker } from "../runs/prepare";
import { type RunRpc, runOf } from "../runs/start";

/** Prepared runs of this isolate (their targets, judges and caches), by run id. Bounded. */
const prepared = new Map<string, Promise<PreparedRun | null>>();
const PREPARED_RUNS = 20;

/** The run's target and scoring, or null when no such run was ever started (its messages are dropped). */
async function preparedRun(env: Env, runId: string, run: RunRpc): Promise<PreparedRun | null> {
  let entry = prepared.get(runId);
  if (!entry) {
    entry = run.config().then(async (stored) => {
      if (stored === null) return null;
      const result = await prepareInWorker(env, stored.config, { runId, ownHosts: stored.own_hosts });
      if (!result.ok) throw new Error(`run ${runId}: its config no longer validates: ${result.errors.map((e) => e.message).join("; ")}`);
      return result.run;
    });
    if (prepared.size >= PREPARED_RUNS) prepared.delete(prepared.keys().next().value as string);
    prepared.set(runId, entry);
    entry.catch(() => prepared.delete(runId));
  }
  return entry;
}

/**
 * A Worker invocation has 6 simultaneous outbound connections; more fetches wait for one, and their timeouts would
 * run while they wait. Evaluations that call out take one of these slots; mock-mode ones (no network) do not.
 */
const CONNECTIONS = 6;

function slots(size: number) {
  let free = size;
  const waiting: (() => void)[] = [];
  return async <T>(work: () => Promise<T>): Promise<T> => {
    if (free > 0) free -= 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free += 1;
    }
  };
}

/**
 * One run's messages of a batch. Mock-mode runs (no network) are claimed, evaluated and reported together: two
 * calls to the coordinator for the batch. Runs that call out are claimed and reported one evaluation at a time,
 * as a connection frees up, so the coordinator's watchdog never counts the wait for a connection as a lost
 * evaluation. Returns the messages to retry.
 */
async function consumeRun(
  env: Env,
  runId: string,
  messages: Message<EvaluationMessage>[],
  connection: ReturnType<typeof slots>,
): Promise<Message<EvaluationMessage>[]> {
  const run = runOf(env, runId);
  const ready = await preparedRun(env, runId, run);
  if (!ready) return [];
  const { config, target, scoring, testCases } = ready;
  const failed: Message<EvaluationMessage>[] = [];
  const evaluate = async (message: Message<EvaluationMessage>, task: Claim): Promise<CaseResult | null> => {
    try {
      const testCase = testCases.find((t) => t.id === task.test_case_id);
      if (!testCase) throw new Error(`run ${runId} has no test case ${task.test_case_id}`);
      return await scoreCase(target, scoring, task.params, testCase);
    } catch (error) {
      console.error(
        `evaluation ${message.body.key} of run ${runId} failed, will retry:`,
        error instanceof Error ? error.message : String(error),
      );
      failed.push(message);
      return null;
    }
  };
  if (config.api.mock_mode) {
    const claims = await run.claim(messages.map((m) => m.body.key));
    const results: { key: string; result: CaseResult }[] = [];
    await Promise.all(
      messages.map(async (message, i) => {
        const task = claims[i];
        const result = task ? await evaluate(message, task) : null;
        if (result) results.push({ key: message.body.key, result });
      }),
    );
    if (results.length > 0) await run.report(results);
    return failed;
  }
  await Promise.all(
    messages.map((message) =>
      connection(async () => {
        const [task] = await run.claim([message.body.key]);
        const result = task ? await evaluate(message, task) : null;
        if (result) await run.report([{ key: message.body.key, result }]);
      }),
    ),
  );
  return failed;
}

export async function consumeEvaluations(batch: MessageBatch<EvaluationMessage>, env: Env): Promise<void> {
  const connection = slots(CONNECTIONS);
  const byRun = new Map<string, Message<EvaluationMessage>[]>();
  for (const message of batch.messages) {
    const messages = byRun.get(message.body.run_id);
    if (messages) messages.push(message);
    else byRun.set(message.body.run_id, [message]);
  }
  await Promise.all(
    [...byRun].map(async ([runId, messages]) => {
      try {
        const failed = new Set(await consumeRun(env, runId, messages, connection));
        for (const message of messages) failed.has(message) ? message.retry() : message.ack();
      } catch (error) {
        // The coordinator could not be reached: the run's messages come back later; reports are idempotent.
        console.error(`run ${runId} could not be reached, will retry:`, error instanceof Error ? error.message : String(error));
        for (const message of messages) message.retry();
      }
    }),
  );
}
