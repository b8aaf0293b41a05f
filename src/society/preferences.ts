/**
 * SAO's preference data: from a run's own answers, for each test case, pairs of (the input, a better answer, a
 * worse answer) whose scores differ by at least the margin, in the format DPO trainers read (TRL's `prompt`,
 * `chosen`, `rejected`), one JSON object a line, with the scores and configs that produced them.
 */
import { z } from "zod";
import type { Config, TestCase } from "../config/schema.js";
import { isPlainObject, JsonSchema, type JsonValue } from "../json.js";
import type { EvaluationRecord } from "../run/schema.js";

export const PreferencePairSchema = z.object({
  prompt: z.string(),
  chosen: z.string(),
  rejected: z.string(),
  test_case_id: z.string(),
  chosen_score: z.number(),
  rejected_score: z.number(),
  chosen_params: z.record(z.string(), JsonSchema),
  rejected_params: z.record(z.string(), JsonSchema),
});
export type PreferencePair = z.output<typeof PreferencePairSchema>;

/** Pairs per test case: each better answer is paired with one worse one, best with worst first. */
const MAX_PAIRS_PER_CASE = 10;

/** The input as the model saw it: a chat's messages as `role: content` lines, a prompt field, or its JSON. */
function promptOf(input: Record<string, JsonValue>): string {
  const messages = input.messages;
  if (Array.isArray(messages)) {
    return messages
      .filter((m): m is Record<string, JsonValue> => isPlainObject(m))
      .map((m) => `${String(m.role ?? "user")}: ${typeof m.content === "string" ? m.content : JSON.stringify(m.content)}`)
      .join("\n");
  }
  for (const key of ["prompt", "query", "question", "input", "text"]) {
    const value = input[key];
    if (typeof value === "string") return value;
  }
  return JSON.stringify(input);
}

/** Whether a run collects SAO's preference pairs: the society on with SAO. */
export function collectsPreferences(config: Config): boolean {
  return config.society?.enabled === true && config.society.learning.sao_enabled;
}

/** A run's preference pairs from its answers, by its society's margin; null when the run does not collect them. */
export function runPreferences(
  config: Config,
  evaluations: readonly EvaluationRecord[],
  testCases: readonly TestCase[],
): PreferencePair[] | null {
  const society = config.society;
  return society && collectsPreferences(config) ? preferencePairs(evaluations, testCases, society.learning.preference_margin) : null;
}

export function preferencePairs(
  evaluations: readonly EvaluationRecord[],
  testCases: readonly TestCase[],
  margin: number,
): PreferencePair[] {
  // One answer per (test case, distinct text), its best-scored evaluation; failed calls have no answer to learn from.
  const byCase = new Map<string, Map<string, EvaluationRecord>>();
  for (const e of evaluations) {
    if (!e.success || e.response_excerpt.trim() === "") continue;
    const answers = byCase.get(e.test_case_id) ?? new Map<string, EvaluationRecord>();
    byCase.set(e.test_case_id, answers);
    const known = answers.get(e.response_excerpt);
    if (!known || e.score > known.score) answers.set(e.response_excerpt, e);
  }
  const pairs: PreferencePair[] = [];
  for (const testCase of testCases) {
    const answers = byCase.get(testCase.id) ?? new Map<string, EvaluationRecord>();
    const ranked = [...answers.values()].sort((a, b) => b.score - a.score || a.candidate.localeCompare(b.candidate));
    let low = ranked.length - 1;
    for (let high = 0; high < low && high < MAX_PAIRS_PER_CASE; high++, low--) {
      const chosen = ranked[high] as EvaluationRecord;
      const rejected = ranked[low] as EvaluationRecord;
      if (chosen.score - rejected.score < margin) break;
      pairs.push({
        prompt: promptOf(testCase.input),
        chosen: chosen.response_excerpt,
        rejected: rejected.response_excerpt,
        test_case_id: testCase.id,
        chosen_score: chosen.score,
        rejected_score: rejected.score,
        chosen_params: chosen.params,
        rejected_params: rejected.params,
      });
    }
  }
  return pairs;
}

export const preferencesJsonl = (pairs: readonly PreferencePair[]): string => pairs.map((p) => `${JSON.stringify(p)}\n`).join("");
