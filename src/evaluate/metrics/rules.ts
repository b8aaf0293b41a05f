/**
 * Rule metrics, driven by what a test case's `expected` states (a metric's own option wins over `expected`).
 * Each returns null when the case states nothing for it, so it does not count there.
 *   contains     share of expected.contains present, case-insensitive (`mode: any`: 1 if any is present)
 *   regex        1 when the answer matches `pattern` (or expected.regex)
 *   json_valid   1 when the answer parses as JSON (code fences allowed)
 *   json_schema  share of checks passed: parses, has the `required` fields, fields have the declared types
 *   length       1 within min_length..max_length (`unit: words` counts words), proportionally less outside
 */
import type { MetricConfig } from "../../config/schema.js";
import { isPlainObject, type JsonValue } from "../../json.js";
import { countFound, expectedList, expectedNumber } from "../expected.js";
import { tokenize } from "../lexical.js";
import type { Metric } from "./metric.js";

export class RuleError extends Error {}

const opt = (options: MetricConfig, key: string): unknown => (options as Record<string, unknown>)[key];

function expectedField(expected: JsonValue, ...keys: string[]): JsonValue | undefined {
  if (!isPlainObject(expected)) return undefined;
  for (const key of keys) if (expected[key] !== undefined) return expected[key];
  return undefined;
}

/** The JSON an answer holds, allowing a ```json fence around it; undefined when it does not parse. */
export function answerJson(text: string): JsonValue | undefined {
  const unfenced = text
    .trim()
    .replace(/^```(?:json)?\s*/i, "")
    .replace(/\s*```$/, "");
  try {
    return JSON.parse(unfenced) as JsonValue;
  } catch {
    return undefined;
  }
}

export const containsMetric: Metric = {
  id: "contains",
  description: "share of expected.contains present in the answer, case-insensitive",
  score({ response, testCase, options }) {
    const fromOption = opt(options, "values");
    const wanted = Array.isArray(fromOption) ? fromOption.map(String) : expectedList(testCase.expected, "contains");
    if (wanted.length === 0) return null;
    const found = countFound(response.text, wanted);
    return opt(options, "mode") === "any" ? (found > 0 ? 1 : 0) : found / wanted.length;
  },
};

export const regexMetric: Metric = {
  id: "regex",
  description: "1 when the answer matches the pattern",
  score({ response, testCase, options }) {
    const pattern = opt(options, "pattern") ?? expectedField(testCase.expected, "regex", "pattern");
    if (typeof pattern !== "string") return null;
    let re: RegExp;
    try {
      re = new RegExp(pattern, typeof opt(options, "flags") === "string" ? (opt(options, "flags") as string) : "");
    } catch (error) {
      throw new RuleError(`invalid regex ${JSON.stringify(pattern)} for test case ${testCase.id}: ${(error as Error).message}`);
    }
    return re.test(response.text) ? 1 : 0;
  },
};

export const jsonValidMetric: Metric = {
  id: "json_valid",
  description: "1 when the answer parses as JSON",
  score: ({ response }) => (answerJson(response.text) === undefined ? 0 : 1),
};

/** Whether a JSON value has the named type (JSON Schema's names and Python's aliases). */
export function typeMatches(value: JsonValue | undefined, type: string): boolean {
  switch (type) {
    case "string":
    case "str":
      return typeof value === "string";
    case "number":
    case "float":
      return typeof value === "number";
    case "integer":
    case "int":
      return typeof value === "number" && Number.isInteger(value);
    case "boolean":
    case "bool":
      return typeof value === "boolean";
    case "array":
    case "list":
      return Array.isArray(value);
    case "object":
    case "dict":
      return isPlainObject(value);
    case "null":
      return value === null;
    default:
      return false;
  }
}

export const jsonSchemaMetric: Metric = {
  id: "json_schema",
  description: "share of schema checks passed: valid JSON, required fields, field types",
  score({ response, testCase, options }) {
    const schema = opt(options, "schema") ?? expectedField(testCase.expected, "json_schema", "schema");
    if (!isPlainObject(schema)) return null;
    const value = answerJson(response.text);
    if (value === undefined) return 0;
    const checks: boolean[] = [true];
    if (typeof schema.type === "string") checks.push(typeMatches(value, schema.type));
    const record = isPlainObject(value) ? value : {};
    if (Array.isArray(schema.required)) for (const field of schema.required) checks.push(Object.hasOwn(record, String(field)));
    if (isPlainObject(schema.properties)) {
      for (const [field, spec] of Object.entries(schema.properties)) {
        if (isPlainObject(spec) && typeof spec.type === "string" && Object.hasOwn(record, field))
          checks.push(typeMatches(record[field], spec.type));
      }
    }
    return checks.filter(Boolean).length / checks.length;
  },
};

export const lengthMetric: Metric = {
  id: "length",
  description: "1 within expected.min_length..max_length (characters, or words with unit: words)",
  score({ response, testCase, options }) {
    const words = opt(options, "unit") === "words";
    const min = (opt(options, "min") as number | undefined) ?? expectedNumber(testCase.expected, words ? "min_words" : "min_length");
    const max = (opt(options, "max") as number | undefined) ?? expectedNumber(testCase.expected, words ? "max_words" : "max_length");
    if (typeof min !== "number" && typeof max !== "number") return null;
    const size = words ? tokenize(response.text).length : response.text.length;
    if (typeof min === "number" && size < min) return min > 0 ? size / min : 1;
    if (typeof max === "number" && size > max) return max / size;
    return 1;
  },
};
