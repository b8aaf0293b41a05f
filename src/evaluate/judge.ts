/**
 * The LLM judge: a rubric prompt from the test case (its input and what `expected` states), a strict JSON answer
 * {score: 0..10, reason}, parsed robustly and mapped to [0, 1]. Verdicts are cached by (judge model, prompt,
 * response): the prompt holds the rubric and the test case, so judging an identical response again costs
 * nothing, even while the first call is still in flight.
 */
import type { JudgeConfig, TestCase } from "../config/schema.js";
import { isPlainObject, type JsonValue } from "../json.js";
import { fnv1a64 } from "../search/hash.js";
import { expectedAnswer, expectedList, expectedNumber } from "./expected.js";
import type { ChatMessage, Provider } from "./providers.js";

export interface Verdict {
  score: number;
  reason: string;
  /** What this call cost (0 when the verdict came from the cache). */
  cost_usd: number;
  cached: boolean;
}

const SYSTEM = [
  "You grade an AI system's answer against a rubric.",
  "Give a score from 0 (useless or wrong) to 10 (fully meets every requirement), and one sentence of reason.",
  'Answer with JSON only, exactly: {"score": <number 0-10>, "reason": "<one sentence>"}',
].join(" ");

function inputText(input: Record<string, JsonValue>): string {
  const messages = input.messages;
  if (Array.isArray(messages)) {
    return messages
      .map((m) =>
        isPlainObject(m)
          ? `${String(m.role ?? "user")}: ${typeof m.content === "string" ? m.content : JSON.stringify(m.content)}`
          : String(m),
      )
      .join("\n");
  }
  for (const key of ["prompt", "input", "query", "question", "text"]) {
    const value = input[key];
    if (typeof value === "string") return value;
  }
  return JSON.stringify(input);
}

/** A runaway answer would make every judge call slow and costly (or overflow the judge's context). */
const MAX_ANSWER_CHARS = 8000;

/** The rubric prompt for one test case and one answer. */
export function judgePrompt(testCase: TestCase, answer: string, rubric?: string): ChatMessage[] {
  const expected = testCase.expected;
  const requirements: string[] = [];
  const contains = expectedList(expected, "contains");
  if (contains.length > 0) requirements.push(`It must mention: ${contains.map((c) => JSON.stringify(c)).join(", ")}.`);
  const min = expectedNumber(expected, "min_length");
  if (min !== null) requirements.push(`It must be at least ${min} characters long.`);
  const max = expectedNumber(expected, "max_length");
  if (max !== null) requirements.push(`It must be at most ${max} characters long.`);
  if (isPlainObject(expected) && typeof expected.format === "string") requirements.push(`Its format must be: ${expected.format}.`);
  const reference = expectedAnswer(expected);
  if (reference !== null) requirements.push(`A correct answer agrees with this reference: ${JSON.stringify(reference)}.`);
  if (requirements.length === 0) requirements.push("It answers the task correctly, completely and clearly.");
  const sections = [`## Task\n${inputText(testCase.input)}`, `## Requirements\n${requirements.map((r) => `- ${r}`).join("\n")}`];
  if (rubric) sections.push(`## Rubric\n${rubric}`);
  const shown =
    answer.length > MAX_ANSWER_CHARS
      ? `${answer.slice(0, MAX_ANSWER_CHARS)}\n[... ${answer.length - MAX_ANSWER_CHARS} more characters not shown]`
      : answer;
  sections.push(`## Answer to grade\n${shown}`);
  return [
    { role: "system", content: SYSTEM },
    { role: "user", content: sections.join("\n\n") },
  ];
}

/** {score, reason} from a judge's reply: JSON (also inside code fences or prose), else "score: 7" or "7/10". */
export function parseVerdict(reply: string): { score: number; reason: string } | null {
  const candidates = [reply, ...(reply.match(/\{[\s\S]*?\}/g) ?? [])];
  for (const candidate of candidates) {
    try {
      const parsed = JSON.parse(candidate.replace(/^```(?:json)?\s*|\s*```$/g, "").trim());
      if (isPlainObject(parsed)) {
        const raw = parsed.score ?? parsed.rating ?? parsed.grade;
        const score = typeof raw === "number" ? raw : typeof raw === "string" ? Number.parseFloat(raw) : Number.NaN;
        if (Number.isFinite(score)) return { score: clampScore(score), reason: typeof parsed.reason === "string" ? parsed.reason : "" };
      }
    } catch {}
  }
  const loose = reply.match(/score["'\s:=]+(-?\d+(?:\.\d+)?)/i) ?? reply.match(/(-?\d+(?:\.\d+)?)\s*\/\s*10\b/);
  if (loose?.[1]) return { score: clampScore(Number.parseFloat(loose[1])), reason: reply.trim().slice(0, 200) };
  return null;
}

function clampScore(score: number): number {
  // Judges told "0 to 10" still sometimes answer a fraction like 0.85: that is 8.5, not a near-zero grade.
  const tenths = score > 0 && score < 1 ? score * 10 : score;
  return Math.min(10, Math.max(0, tenths));
}

export class JudgeError extends Error {}

export type VerdictCache = Map<string, Promise<{ score: number; reason: string; cost_usd: number }>>;

export function createJudge(config: JudgeConfig, provider: Provider, cache: VerdictCache = new Map()) {
  return async (testCase: TestCase, answer: string, signal?: AbortSignal): Promise<Verdict> => {
    const messages = judgePrompt(testCase, answer, config.rubric);
    const key = fnv1a64(JSON.stringify([config.provider, config.endpoint ?? "", config.model, messages]));
    const cached = cache.get(key);
    if (cached) {
      const verdict = await cached;
      return { score: verdict.score / 10, reason: verdict.reason, cost_usd: 0, cached: true };
    }
    const pending = (async () => {
      const reply = await provider.chat(messages, { json: config.json_mode, ...(signal ? { signal } : {}) });
      const verdict = parseVerdict(reply.text);
      if (!verdict) throw new JudgeError(`the judge's reply has no score: ${JSON.stringify(reply.text.slice(0, 120))}`);
      return { ...verdict, cost_usd: reply.cost_usd };
    })();
    cache.set(key, pending);
    try {
      const verdict = await pending;
      return { score: verdict.score / 10, reason: verdict.reason, cost_usd: verdict.cost_usd, cached: false };
    } catch (error) {
      // A failed call is not a verdict: the next identical request tries again.
      cache.delete(key);
      throw error;
    }
  };
}

export type Judge = ReturnType<typeof createJudge>;
