import { isPlainObject, type JsonValue } from "../json.js";

/** The reference answer a test case expects: `expected` itself when it is a value, else its answer-like field. */
export function expectedAnswer(expected: JsonValue): string | null {
  if (typeof expected === "string" || typeof expected === "number" || typeof expected === "boolean") return String(expected);
  if (!isPlainObject(expected)) return null;
  for (const key of ["answer", "output", "reference", "text", "expected", "response"]) {
    const value = expected[key];
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return String(value);
  }
  return null;
}

/** The text cosine_similarity compares with: reference, output, text, then answer. */
export function expectedReference(expected: JsonValue): string | null {
  if (typeof expected === "string") return expected;
  if (!isPlainObject(expected)) return null;
  for (const key of ["reference", "output", "text", "answer"]) {
    const value = expected[key];
    if (typeof value === "string" || typeof value === "number") return String(value);
  }
  return null;
}

export function expectedList(expected: JsonValue, key: string): string[] {
  if (!isPlainObject(expected)) return [];
  const value = expected[key];
  if (Array.isArray(value)) return value.filter((v) => v !== null).map(String);
  if (typeof value === "string") return [value];
  return [];
}

export function expectedNumber(expected: JsonValue, key: string): number | null {
  if (!isPlainObject(expected)) return null;
  const value = expected[key];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** How many of `wanted` appear in `text`, ignoring case. */
export function countFound(text: string, wanted: readonly string[]): number {
  const lower = text.toLowerCase();
  return wanted.filter((w) => lower.includes(w.toLowerCase())).length;
}
