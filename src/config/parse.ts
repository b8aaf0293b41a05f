import { parseDocument } from "yaml";
import type { ConfigIssue } from "./issues.js";

export type ConfigFormat = "yaml" | "json";

export function formatFromName(name: string): ConfigFormat | null {
  const lower = name.toLowerCase();
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return "yaml";
  if (lower.endsWith(".json")) return "json";
  return null;
}

/** Parse YAML or JSON text. Errors name the source and the line, never throw. */
export function parseConfigText(text: string, format: ConfigFormat, source: string): { value: unknown; errors: ConfigIssue[] } {
  if (format === "json") {
    try {
      return { value: JSON.parse(text), errors: [] };
    } catch (error) {
      return { value: undefined, errors: [{ path: "", message: `${source} is not valid JSON: ${messageOf(error)}` }] };
    }
  }
  // JSON is YAML too, so YAML parsing also accepts .json bodies sent as YAML.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const where = first?.linePos?.[0] ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}` : "";
    const detail = (first?.message ?? "syntax error").split("\n")[0];
    return { value: undefined, errors: [{ path: "", message: `${source} is not valid YAML${where}: ${detail}` }] };
  }
  try {
    // The alias cap refuses "billion laughs" documents that would expand without bound.
    return { value: doc.toJS({ maxAliasCount: 1000 }), errors: [] };
  } catch (error) {
    return { value: undefined, errors: [{ path: "", message: `${source} cannot be read as YAML: ${messageOf(error)}` }] };
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
