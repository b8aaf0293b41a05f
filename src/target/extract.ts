/**
 * Answer text and token usage out of the response shapes teams point us at: OpenAI Responses and Chat
 * Completions, Anthropic Messages, Gemini, and plain `{text}` / `{output}` services, or an explicit
 * `api.response.result_field` path such as `choices[0].message.content`.
 */
import { isPlainObject, type JsonValue } from "../json.js";
import type { TokenUsage } from "./types.js";

/** Read a path like `choices[0].message.content` or `output.0.text`; undefined when any step is missing. */
export function getPath(value: unknown, path: string): unknown {
  const steps = path
    .replace(/\[(\d+)\]/g, ".$1")
    .split(".")
    .filter((s) => s !== "");
  let current: unknown = value;
  for (const step of steps) {
    if (Array.isArray(current) && /^\d+$/.test(step)) current = current[Number(step)];
    else if (isPlainObject(current) && Object.hasOwn(current, step)) current = current[step];
    else return undefined;
  }
  return current;
}

function textOfParts(parts: unknown[]): string | null {
  const texts: string[] = [];
  for (const part of parts) {
    if (typeof part === "string") texts.push(part);
    else if (isPlainObject(part)) {
      if (typeof part.text === "string" && (part.type === undefined || /text/.test(String(part.type)))) texts.push(part.text);
      else if (Array.isArray(part.content)) {
        const inner = textOfParts(part.content);
        if (inner) texts.push(inner);
      } else if (typeof part.content === "string") texts.push(part.content);
    }
  }
  return texts.length > 0 ? texts.join("\n") : null;
}

/** The answer text of a response body, by shape. Falls back to the JSON text so nothing is silently lost. */
export function extractText(body: unknown, resultField?: string): string {
  if (resultField) {
    const value = getPath(body, resultField);
    if (value !== undefined) return textFrom(value) ?? "";
  }
  return textFrom(body) ?? "";
}

function textFrom(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return textOfParts(value) ?? JSON.stringify(value);
  if (!isPlainObject(value)) return String(value);
  // OpenAI Responses: output_text convenience field, or output[*].content[*] of type output_text.
  if (typeof value.output_text === "string") return value.output_text;
  if (Array.isArray(value.output)) {
    const text = textOfParts(value.output);
    if (text) return text;
  }
  // Chat Completions (and legacy completions).
  if (Array.isArray(value.choices) && value.choices.length > 0) {
    const choice = value.choices[0];
    if (isPlainObject(choice)) {
      const message = choice.message;
      if (isPlainObject(message)) {
        if (typeof message.content === "string") return message.content;
        if (Array.isArray(message.content)) return textOfParts(message.content) ?? "";
      }
      if (typeof choice.text === "string") return choice.text;
    }
  }
  // Anthropic Messages: content[*] of type text.
  if (Array.isArray(value.content)) {
    const text = textOfParts(value.content);
    if (text !== null) return text;
  }
  // Gemini: candidates[0].content.parts[*].text
  if (Array.isArray(value.candidates) && isPlainObject(value.candidates[0])) {
    const content = value.candidates[0].content;
    if (isPlainObject(content) && Array.isArray(content.parts)) {
      const text = textOfParts(content.parts);
      if (text) return text;
    }
  }
  for (const key of ["text", "content", "output", "result", "response", "answer", "completion", "generated_text"]) {
    const field = value[key];
    if (typeof field === "string") return field;
  }
  if (isPlainObject(value.message) && typeof value.message.content === "string") return value.message.content;
  return JSON.stringify(value);
}

function count(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : null;
}

/** Token usage: OpenAI chat (prompt/completion), Responses and Anthropic (input/output), Gemini (usageMetadata). */
export function extractUsage(body: unknown): TokenUsage | null {
  if (!isPlainObject(body)) return null;
  const usage = body.usage;
  if (isPlainObject(usage)) {
    const input = count(usage.prompt_tokens) ?? count(usage.input_tokens);
    const output = count(usage.completion_tokens) ?? count(usage.output_tokens);
    if (input !== null || output !== null) return { input_tokens: input ?? 0, output_tokens: output ?? 0 };
  }
  const meta = body.usageMetadata;
  if (isPlainObject(meta)) {
    const input = count(meta.promptTokenCount);
    const output = count(meta.candidatesTokenCount);
    if (input !== null || output !== null) return { input_tokens: input ?? 0, output_tokens: output ?? 0 };
  }
  return null;
}

export function extractModel(body: unknown): string | null {
  return isPlainObject(body) && typeof body.model === "string" ? body.model : null;
}

/** Items of a list-shaped answer (retrieval results), or null for a text answer. */
export function extractItems(body: unknown, resultField?: string): JsonValue[] | null {
  const value = resultField ? getPath(body, resultField) : body;
  if (Array.isArray(value)) return value as JsonValue[];
  if (isPlainObject(value)) {
    for (const key of ["results", "items", "documents", "data", "hits", "matches", "chunks"]) {
      const field = value[key];
      if (Array.isArray(field)) return field as JsonValue[];
    }
  }
  return null;
}
