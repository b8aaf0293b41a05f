/**
 * When RLP asks its model, the same in process and on the service: once per generation, at its start, while the
 * run's budget of proposer calls lasts, from the second generation on (the first has nothing to read yet). The
 * candidates it writes join the next generation; a failed or malformed reply costs that call only.
 */
import type { Config } from "../config/schema.js";
import type { Study } from "../optimize/study.js";
import type { Ledger } from "../run/ledger.js";
import type { SocietyPlan } from "../run/prepare.js";
import type { SocietyCalls } from "../run/report.js";
import type { EvaluationRecord } from "../run/schema.js";
import { buildBrief } from "./brief.js";

/** What a host keeps of the proposer between steps (the coordinator saves it with the run). */
export interface SocietyState {
  calls: SocietyCalls;
  /** The generation the proposer was last asked at (-1: never). */
  asked: number;
}

export const newSocietyState = (): SocietyState => ({ calls: { calls: 0, failed: 0, malformed: 0, cost_usd: 0 }, asked: -1 });

/** Ask the proposer if it is due, and tell the study what it proposed; null when it is not due. */
export function askProposer(
  plan: SocietyPlan,
  state: SocietyState,
  run: {
    study: Study;
    config: Config;
    /** A candidate's evaluations so far: read only when the proposer is asked, for the best candidate. */
    answersOf: (candidate: string) => readonly EvaluationRecord[];
    ledger: Ledger;
    signal?: AbortSignal | undefined;
  },
): Promise<void> | null {
  const { study, ledger } = run;
  const { calls } = state;
  const proposer = plan.proposer;
  if (!proposer) return null;
  const generation = study.control.current?.index ?? -1;
  if (study.done || generation <= state.asked || calls.calls >= plan.maxCalls) return null;
  state.asked = generation;
  // Nothing scored on every test case yet: nothing for the model to read.
  const base = study.best()?.config;
  if (!base) return null;
  calls.calls += 1;
  const brief = buildBrief(study, run.config, run.answersOf, study.settings.populationSize);
  return proposer.propose(brief, run.signal).then(
    (proposal) => {
      calls.cost_usd += proposal.cost_usd;
      ledger.spent += proposal.cost_usd;
      if (proposal.malformed) calls.malformed += 1;
      // A model that answers more than it was asked for is read no further: the control state stays bounded.
      study.suggest(proposal.candidates.slice(0, brief.wanted), base);
    },
    () => {
      calls.failed += 1;
    },
  );
}
