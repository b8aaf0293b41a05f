import { z } from "zod";

/**
 * One problem (or warning) with a config or a request, located by its dotted path:
 * `search_space.parameters.temperature.max`. The `details` of an error answer, a run's warnings.
 */
export const ConfigIssueSchema = z.object({ path: z.string(), message: z.string() });
export type ConfigIssue = z.output<typeof ConfigIssueSchema>;

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

export function joinPath(prefix: string, path: string): string {
  if (prefix === "") return path;
  if (path === "") return prefix;
  return path.startsWith("[") ? `${prefix}${path}` : `${prefix}.${path}`;
}

/** zod issues as ConfigIssues, with "is required" for missing keys instead of "received undefined". */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], prefix = ""): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      // Report the branch that got furthest instead of "Invalid input".
      const deepest = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0] ?? [];
      out.push(...fromZodIssues(deepest, joinPath(prefix, formatPath(issue.path))));
      continue;
    }
    const missing = issue.code === "invalid_type" && /received undefined/.test(issue.message);
    out.push({
      path: joinPath(prefix, formatPath(issue.path)),
      message: missing ? "is required" : issue.message,
    });
  }
  return out;
}

function depth(issues: readonly z.core.$ZodIssue[]): number {
  return Math.max(0, ...issues.map((i) => i.path.length));
}

export function describeIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
}
