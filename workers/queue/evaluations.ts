/**
 * The evaluations consumer: each message names a run and a (candidate, test case). The consumer claims it from the
 * run's coordinator (a cancelled or finished run answers null, and the message is dropped), evaluates it with
 * the SDK's own target and scoring code, and reports the result. Failures of the team's API are results, not
 * errors; only an unreachable coordinator makes the message retry (then the dead-letter queue).
 */
import { scoreCase } from "../../src/evaluate/case.js";
import type { PreparedRun } from "../../src/sdk/prepare.js";
import type { Env, EvaluationMessage } from "../env";
import { prepareInWorker } from "../runs/prepare";
import { type RunRpc, runOf } from "../runs/start";

/** Prepared runs of this isolate (their targets, judges and caches), by run id. Bounded. */
const prepared = new Map<string, Promise<PreparedRun>>();
const PREPARED_RUNS = 20;

async function preparedRun(env: Env, runId: string, run: RunRpc): Promise<PreparedRun> {
  let entry = prepared.get(runId);
  if (!entry) {
    entry = run.config().then(async (config) => {
      const result = await prepareInWorker(env, config);
      if (!result.ok) throw new Error(`run ${runId}: its config no longer validates: ${result.errors.map((e) => e.message).join("; ")}`);
      return result.run;
    });
    if (prepared.size >= PREPARED_RUNS) prepared.delete(prepared.keys().next().value as string);
    prepared.set(runId, entry);
    entry.catch(() => prepared.delete(runId));
  }
  return entry;
}

/** At most this many evaluations at once per invocation: a Worker has 6 simultaneous outbound connections. */
const CONCURRENCY = 6;

export async function consumeEvaluations(batch: MessageBatch<EvaluationMessage>, env: Env): Promise<void> {
  let next = 0;
  const work = async () => {
    while (next < batch.messages.length) {
      const message = batch.messages[next++] as Message<EvaluationMessage>;
      try {
        const { run_id, key } = message.body;
        const run = runOf(env, run_id);
        const task = await run.claim(key);
        if (!task) {
          message.ack();
          continue;
        }
        const { target, scoring, testCases } = await preparedRun(env, run_id, run);
        const testCase = testCases.find((t) => t.id === task.test_case_id);
        if (!testCase) throw new Error(`run ${run_id} has no test case ${task.test_case_id}`);
        const result = await scoreCase(target, scoring, task.params, testCase);
        await run.report(key, result);
        message.ack();
      } catch (error) {
        console.error("evaluation failed, will retry", error instanceof Error ? error.message : String(error));
        message.retry();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, batch.messages.length) }, work));
}
