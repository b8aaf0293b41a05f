/**
 * How big a run's study may get on the service, known before it starts. The facts that grow with the run are a
 * row each (workers/objects/study-tables.ts); the control state is one row, and its size is bounded by the config:
 * a generation's members, their race and their pending evaluations, the test cases, the search space and the
 * warm-start configs. The start guard refuses a config whose bound passes the limit; should the bound be wrong,
 * the coordinator still checks each save and ends the run with `state_limit` rather than hang.
 */

import { MAX_TEXT_VALUE_BYTES, SOCIETY_MAX_CALLS } from "../config/schema.js";
import { utf8Length } from "../json.js";
import { ALGORITHMS } from "../optimize/algorithms.js";
import { studySettings } from "../optimize/settings.js";
import { SUGGESTED_TEXT_BUDGET_BYTES } from "../optimize/study.js";
import type { ParamConfig } from "../search/space.js";
import type { PreparedRun } from "./prepare.js";

/** A Durable Object's SQLite holds 2 MB in a row; the control state keeps to half of that. */
export const STUDY_CONTROL_LIMIT_BYTES = 1024 * 1024;

/** Settings, counters, RNG, sampler state, incumbents: what does not grow with the config's lists. */
const FIXED_BYTES = 4096;
/** A config's hash in JSON with its separator ("0123456789abcdef",). */
const HASH_BYTES = 19;
/** A race entry: "hash":{"target":12345,"dropped":false}, */
const RACE_ENTRY_BYTES = 50;

/** The most bytes the study's control state of this run can take. */
export function controlStateBound(run: Pick<PreparedRun, "config" | "testCases">, initialConfigs: readonly ParamConfig[] = []): number {
  const { optimization, search_space } = run.config;
  const preset = ALGORITHMS[optimization.algorithm];
  const members = (preset.reinvestSavings ? 4 : 1) * optimization.evolution.population_size;
  const ids = run.testCases.map((t) => utf8Length(JSON.stringify(t.id)));
  const idBytes = ids.reduce((a, b) => a + b, 0);
  // "hash|id":true, per pending evaluation: at most every member on every test case at once.
  const pending = members * (ids.length * (HASH_BYTES + 7) + idBytes);
  const testCases = idBytes + ids.length * 40;
  const order = idBytes + ids.length;
  const space = utf8Length(JSON.stringify(search_space.parameters));
  const warm = utf8Length(JSON.stringify(initialConfigs));
  const sampler = preset.sampler.stateBytes?.(search_space.parameters, studySettings(optimization)) ?? 0;
  return (
    FIXED_BYTES + members * (HASH_BYTES + RACE_ENTRY_BYTES) + pending + testCases + order + space + warm + sampler + suggestionBytes(run)
  );
}

/** A "tried" entry of a suggestion: {"hash":"0123456789abcdef","incumbent":0.123456789}, */
const TRIED_BYTES = 60;

/**
 * What the society's proposer adds to the control state: the text it writes into the space (at most
 * SUGGESTED_TEXT_BUDGET_BYTES), a generation's worth of suggested configs waiting (each text value up to
 * MAX_TEXT_VALUE_BYTES), and a record of each suggestion tried.
 */
function suggestionBytes(run: Pick<PreparedRun, "config">): number {
  const society = run.config.society;
  if (!society?.enabled || !society.learning.rlp_enabled) return 0;
  const parameters = Object.values(run.config.search_space.parameters);
  const textParameters = parameters.filter((p) => p.type === "categorical" && p.text).length;
  const population = run.config.optimization.evolution.population_size;
  const queued = population * (textParameters * MAX_TEXT_VALUE_BYTES + 64 * parameters.length);
  return (
    SUGGESTED_TEXT_BUDGET_BYTES * Math.min(1, textParameters) +
    queued +
    (society.llm?.max_calls ?? SOCIETY_MAX_CALLS) * population * TRIED_BYTES
  );
}
