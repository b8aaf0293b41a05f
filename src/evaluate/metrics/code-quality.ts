/**
 * `type: code_quality` for JavaScript and TypeScript answers (the reference's code evaluator, for the languages
 * of this project's users): syntax 0.30 (brackets balanced outside strings and comments), completeness 0.25
 * (expected.contains), complexity 0.20 (branching keywords: up to 10 scores 1, up to 20 0.7, else 0.4),
 * structure 0.15 (a function, at least expected.min_lines lines), quality 0.10 (const/let, comments, error
 * handling). Code inside a ``` fence is extracted first; under 5 characters scores 0.
 */
import { countFound, expectedList, expectedNumber } from "../expected.js";
import { clamp01, type Metric } from "./metric.js";

function extractCode(text: string): string {
  const fenced = text.match(/```[\w-]*\n([\s\S]*?)```/);
  return (fenced?.[1] ?? text).trim();
}

/** Brackets balance, ignoring strings, template literals and comments. */
function balanced(code: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  for (let i = 0; i < code.length; i++) {
    const ch = code[i] as string;
    const next = code[i + 1];
    if (ch === "/" && next === "/") {
      while (i < code.length && code[i] !== "\n") i++;
    } else if (ch === "/" && next === "*") {
      i = code.indexOf("*/", i + 2);
      if (i === -1) return false;
      i++;
    } else if (ch === '"' || ch === "'" || ch === "`") {
      for (i++; i < code.length && code[i] !== ch; i++) if (code[i] === "\\") i++;
      if (i >= code.length) return false;
    } else if ("([{".includes(ch)) stack.push(ch);
    else if (ch in pairs) {
      if (stack.pop() !== pairs[ch]) return false;
    }
  }
  return stack.length === 0;
}

function codeQuality(text: string, expected: Parameters<typeof expectedList>[0]): number {
  const code = extractCode(text);
  if (code.length < 5) return 0;
  const syntax = balanced(code) ? 1 : 0.2;
  const wanted = expectedList(expected, "contains");
  const completeness = wanted.length === 0 ? 1 : countFound(code, wanted) / wanted.length;
  const branches = (code.match(/\b(if|else|for|while|switch|case|catch|\?\?|&&|\|\|)\b/g) ?? []).length;
  const complexity = branches <= 10 ? 1 : branches <= 20 ? 0.7 : 0.4;
  const lines = code.split("\n").filter((l) => l.trim()).length;
  const minLines = expectedNumber(expected, "min_lines") ?? 1;
  const structure = 0.5 + (/\bfunction\b|=>|\bclass\b/.test(code) ? 0.3 : 0) + (lines >= minLines ? 0.2 : 0);
  const quality =
    0.5 + (/\b(const|let)\b/.test(code) ? 0.2 : 0) + (/\/\/|\/\*/.test(code) ? 0.2 : 0) + (/\btry\b[\s\S]*\bcatch\b/.test(code) ? 0.1 : 0);
  return clamp01(0.3 * syntax + 0.25 * completeness + 0.2 * complexity + 0.15 * structure + 0.1 * quality);
}

export const codeQualityMetric: Metric = {
  id: "code_quality",
  description: "JavaScript/TypeScript code quality: syntax, completeness, complexity, structure, style",
  score: ({ response, testCase }) => codeQuality(response.text, testCase.expected),
};
