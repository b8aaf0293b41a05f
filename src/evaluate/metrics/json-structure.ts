/**
 * `type: json_structure`, the reference's built-in JSON evaluator: valid 0.25, expected.required_fields present
 * 0.30, expected.field_types matched 0.20, field count within min_fields..max_fields 0.10, completeness (no
 * null, empty string, list or object values) 0.15. `type: json_validity` is 1 for JSON, 0 otherwise.
 */
import { isPlainObject, type JsonValue } from "../../json.js";
import { expectedList, expectedNumber } from "../expected.js";
import { clamp01, type Metric } from "./metric.js";
import { answerJson, jsonValidMetric, typeMatches } from "./rules.js";

function empty(value: JsonValue): boolean {
  return (
    value === null ||
    value === "" ||
    (Array.isArray(value) && value.length === 0) ||
    (isPlainObject(value) && Object.keys(value).length === 0)
  );
}

function jsonStructure(text: string, expected: JsonValue): number {
  const value = answerJson(text);
  if (value === undefined) return 0;
  if (!isPlainObject(value)) return 0.3;
  const required = expectedList(expected, "required_fields");
  const present = required.length === 0 ? 1 : required.filter((f) => Object.hasOwn(value, f)).length / required.length;
  const declared = isPlainObject(expected) && isPlainObject(expected.field_types) ? Object.entries(expected.field_types) : [];
  const typed =
    declared.length === 0
      ? 1
      : // The reference's json evaluator knows no "null" type.
        declared.filter(([field, type]) => String(type) !== "null" && typeMatches(value[field], String(type))).length / declared.length;
  const count = Object.keys(value).length;
  const minFields = expectedNumber(expected, "min_fields");
  const maxFields = expectedNumber(expected, "max_fields");
  const sized =
    minFields !== null && count < minFields ? count / minFields : maxFields !== null && count > maxFields ? maxFields / count : 1;
  const values = Object.values(value);
  const complete = values.length === 0 ? 0 : 1 - values.filter(empty).length / values.length;
  return clamp01(0.25 + 0.3 * present + 0.2 * typed + 0.1 * sized + 0.15 * complete);
}

export const jsonStructureMetric: Metric = {
  id: "json_structure",
  description: "the reference's JSON structure score: valid, required fields, field types, field count, completeness",
  score: ({ response, testCase }) => jsonStructure(response.text, testCase.expected),
};

export const jsonValidityMetric: Metric = { ...jsonValidMetric, id: "json_validity" };
