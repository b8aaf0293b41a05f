/**
 * SAO's generated test cases: a model writes variations of the best config's weakest test cases (the same input
 * shape, not a copy of any case), kept apart from the originals, and the best config is scored on them once the
 * run is over, so the result shows whether the winner holds beyond the cases it was chosen on.
 */
import type { TestCase } from "../config/schema.js";
import { type CaseResult, type CaseScoring, scoreCase } from "../evaluate/case.js";
import type { ChatMessage, Provider, Sampling } from "../evaluate/providers.js";
import { isPlainObject, type JsonValue } from "../json.js";
import { countCall, countOutcome, type Ledger } from "../run/ledger.js";
import type { EvaluationRecord, Generalization } from "../run/schema.js";
import { canonicalJson } from "../search/hash.js";
import type { ParamConfig } from "../search/space.js";
import { redact } from "../target/secrets.js";
import type { Target } from "../target/types.js";
import { parseCandidates } from "./proposer.js";

/** Writes variations of test cases: a chat model (society.llm), or the mock's. */
export interface CaseWriter {
  write(cases: readonly TestCase[], perCase: number, signal?: AbortSignal): Promise<{ variations: unknown[]; cost_usd: number }>;
}

const WEAKEST = 3;
const PER_CASE = 2;

const INSTRUCTIONS = `You write new test cases for an API from existing ones. For each case given, write variations
that ask the same kind of thing differently (other wording, other numbers or names), with the same JSON shape for
"input" and "expected", and an "expected" that is right for the new input. Never copy a case.
Reply with only a JSON object: {"candidates": [{"from": "<id of the case varied>", "input": {...}, "expected": ...}, ...]}.`;

export function llmCaseWriter(provider: Provider, secrets: readonly string[], sampling: Sampling): CaseWriter {
  return {
    async write(cases, perCase, signal) {
      const shown = cases.map((c) => ({ id: c.id, input: c.input, expected: c.expected }));
      const messages: ChatMessage[] = [
        { role: "system", content: INSTRUCTIONS },
        { role: "user", content: redact(`Write ${perCase} variations of each case.\n\n${JSON.stringify(shown, null, 1)}`, secrets) },
      ];
      const reply = await provider.chat(messages, { json: true, sampling, ...(signal ? { signal } : {}) });
      return { variations: parseCandidates(reply.text) ?? [], cost_usd: reply.cost_usd };
    },
  };
}

/** The mock's variations: the same question asked again with a different opening, its expectations kept. */
export const mockCaseWriter: CaseWriter = {
  async write(cases, perCase) {
    const openings = ["Quick question:", "Please answer this:", "I was wondering:"];
    const variations = cases.flatMap((c) =>
      openings.slice(0, perCase).map((opening) => ({ from: c.id, input: reword(c.input, opening), expected: c.expected })),
    );
    return { variations, cost_usd: 0 };
  },
};

function reword(input: Record<string, JsonValue>, opening: string): Record<string, JsonValue> {
  const messages = input.messages;
  if (Array.isArray(messages) && messages.length > 0) {
    const last = messages.at(-1);
    if (isPlainObject(last) && typeof last.content === "string") {
      return { ...input, messages: [...messages.slice(0, -1), { ...last, content: `${opening} ${last.content}` }] };
    }
  }
  const text = Object.entries(input).find(([, v]) => typeof v === "string");
  return text ? { ...input, [text[0]]: `${opening} ${text[1]}` } : input;
}

/** The JSON shape of a value: its type, the keys of an object, the shape of a list's first item. */
function shape(value: JsonValue | undefined): string {
  if (Array.isArray(value)) return `[${value.length > 0 ? shape(value[0]) : ""}]`;
  if (isPlainObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${k}:${shape(value[k] as JsonValue)}`)
      .join(",")}}`;
  }
  return value === null ? "null" : typeof value;
}

/** The variations that are new cases of the same shape as the case they vary. */
function validVariations(
  variations: readonly unknown[],
  originals: readonly TestCase[],
  max: number,
): { cases: (TestCase & { from: string })[]; dropped: number } {
  const seen = new Set(originals.map((t) => canonicalJson(t.input)));
  const cases: (TestCase & { from: string })[] = [];
  let dropped = 0;
  for (const v of variations) {
    // Each kept case costs a target call: past `max`, a model's extra variations are dropped, not called.
    if (cases.length >= max) {
      dropped += 1;
      continue;
    }
    const from = isPlainObject(v) ? originals.find((t) => t.id === v.from) : undefined;
    const input = isPlainObject(v) ? v.input : undefined;
    const expected = isPlainObject(v) && v.expected !== undefined ? (v.expected as JsonValue) : from?.expected;
    if (!from || !isPlainObject(input) || shape(input as JsonValue) !== shape(from.input) || shape(expected) !== shape(from.expected)) {
      dropped += 1;
      continue;
    }
    const key = canonicalJson(input as JsonValue);
    if (seen.has(key)) {
      dropped += 1;
      continue;
    }
    seen.add(key);
    cases.push({
      id: `generated_${cases.length + 1}_from_${from.id}`,
      from: from.id,
      input: input as Record<string, JsonValue>,
      expected: expected as JsonValue,
      metadata: {},
      weight: 1,
    });
  }
  return { cases, dropped };
}

/**
 * Score the best config on variations of its weakest test cases. Its target calls and the model's cost count in
 * the run's ledger like any other.
 */
export async function checkGeneralization(args: {
  writer: CaseWriter;
  best: { config: ParamConfig; score: number; hash: string };
  testCases: readonly TestCase[];
  evaluations: readonly EvaluationRecord[];
  target: Target;
  scoring: CaseScoring;
  ledger: Ledger;
  signal?: AbortSignal | undefined;
}): Promise<Generalization> {
  const { best, ledger } = args;
  const scores = new Map(args.evaluations.filter((e) => e.candidate === best.hash).map((e) => [e.test_case_id, e.score]));
  const weakest = [...args.testCases].sort((a, b) => (scores.get(a.id) ?? 1) - (scores.get(b.id) ?? 1)).slice(0, WEAKEST);
  const written = await args.writer.write(weakest, PER_CASE, args.signal);
  ledger.spent += written.cost_usd;
  const { cases, dropped } = validVariations(written.variations, weakest, weakest.length * PER_CASE);
  const results: { id: string; from: string; score: number; input: Record<string, JsonValue> }[] = [];
  for (const testCase of cases) {
    countCall(ledger, false);
    const outcome: CaseResult = await scoreCase(args.target, args.scoring, best.config, testCase, args.signal);
    countOutcome(ledger, outcome);
    results.push({ id: testCase.id, from: testCase.from, score: outcome.score, input: testCase.input });
  }
  return {
    original_score: best.score,
    generated_score: results.length > 0 ? results.reduce((sum, r) => sum + r.score, 0) / results.length : null,
    generated_cases: results.length,
    dropped,
    cases: results,
  };
}
