/**
 * Small checks for custom evaluators (the ported seed examples use them, and so may yours): how much of what a
 * test case expects an answer covers, whether it reads as finished text, whether its length fits.
 */
import type { JsonValue } from "../json.js";
import { countFound, expectedList, expectedNumber } from "./expected.js";

/** Share of expected.contains found in the text, ignoring case (1 when nothing is expected). */
export function completeness(text: string, expected: JsonValue): number {
  const wanted = expectedList(expected, "contains");
  return wanted.length === 0 ? 1 : countFound(text, wanted) / wanted.length;
}

/** Finished sentences and varied wording; 0 for an answer with no words. */
export function wellFormed(text: string): number {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  if (words.length === 0) return 0;
  const varied = new Set(words).size / words.length;
  const finished = /[.!?]["')\]]?\s*$/.test(text.trim()) ? 1 : 0.5;
  return Math.min(1, 0.5 * finished + 0.5 * Math.min(1, varied * 1.5));
}

/** 1 within expected.min_length..max_length (characters), proportionally less outside. */
export function lengthFit(text: string, expected: JsonValue): number {
  const min = expectedNumber(expected, "min_length") ?? 1;
  const max = expectedNumber(expected, "max_length") ?? Number.POSITIVE_INFINITY;
  if (text.length < min) return text.length / min;
  if (text.length > max) return max / text.length;
  return 1;
}
