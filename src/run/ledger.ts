/**
 * What a run has spent, counted as the hosts move tasks: the numbers the run rules read. The in-process executor
 * keeps one in memory; the RunCoordinator keeps one in its SQLite (it must survive a restart).
 */
export interface Ledger {
  /** Target calls sent: every call, a call sent again after its first send was lost included. */
  calls: number;
  /** Calls sent again after a first send whose report never came (a crash, a lost consumer). */
  resent: number;
  /** Evaluations reported. */
  results: number;
  successes: number;
  /** USD: what reported evaluations cost, plus an estimate for each call sent again. */
  spent: number;
}

export function newLedger(): Ledger {
  return { calls: 0, resent: 0, results: 0, successes: 0, spent: 0 };
}

/**
 * A call goes out. `again`: its evaluation was sent before and no report came, so the target may have been
 * called and billed already; that call's cost is unknown, and it is charged the mean cost of a reported call so
 * that max_cost_usd holds across restarts.
 */
export function countCall(ledger: Ledger, again: boolean): void {
  ledger.calls += 1;
  if (!again) return;
  ledger.resent += 1;
  if (ledger.results > 0) ledger.spent += ledger.spent / (ledger.results + ledger.resent - 1);
}

/** An evaluation's outcome came in. */
export function countOutcome(ledger: Ledger, outcome: { success: boolean; cost_usd: number; evaluation_cost_usd: number }): void {
  ledger.results += 1;
  if (outcome.success) ledger.successes += 1;
  const cost = outcome.cost_usd + outcome.evaluation_cost_usd;
  if (Number.isFinite(cost) && cost > 0) ledger.spent += cost;
}
