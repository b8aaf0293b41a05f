import { app } from "./api/app";
import { archiveDecisions } from "./db/archive";
import { refreshPopulations } from "./db/population";
import type { ControlMessage, Env, EvaluationMessage } from "./env";
import { consumeEvaluations } from "./queue/evaluations";
import { consumeControl, enqueueDue } from "./runs/schedule";

export { ArmsObject } from "./objects/arms-object";
export { DecisionLogShard } from "./objects/decision-log-shard";
export { RunCoordinator } from "./objects/run-coordinator";

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    if (batch.queue.startsWith("convergence-control")) await consumeControl(batch as MessageBatch<ControlMessage>, env);
    else await consumeEvaluations(batch as MessageBatch<EvaluationMessage>, env);
  },
  async scheduled(controller, env, _ctx) {
    // Independent duties: one failing must not skip the others.
    const outcomes = await Promise.allSettled([
      enqueueDue(env, controller.scheduledTime),
      refreshPopulations(env, controller.scheduledTime),
      archiveDecisions(env, controller.scheduledTime),
    ]);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (failed) throw failed.reason;
  },
} satisfies ExportedHandler<Env, EvaluationMessage | ControlMessage>;
