/** The files `convergence optimize --output DIR` writes. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { JsonValue } from "../../json.js";
import type { RunReport } from "../../run/schema.js";
import { type PreferencePair, preferencesJsonl } from "../../society/preferences.js";

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csv(rows: readonly (readonly unknown[])[]): string {
  return `${rows.map((row) => row.map(csvCell).join(",")).join("\n")}\n`;
}

function paramNames(report: RunReport): string[] {
  const names = new Set<string>();
  for (const c of report.candidates) for (const name of Object.keys(c.params)) names.add(name);
  return [...names];
}

function experimentsCsv(report: RunReport): string {
  const names = paramNames(report);
  const metrics = [...new Set(report.candidates.flatMap((c) => Object.keys(c.metrics)))];
  const header = ["generation", "candidate", "score", "complete", "dropped", ...names, ...metrics.map((m) => `metric:${m}`)];
  const rows = report.candidates.map((c) => [
    c.generation,
    c.candidate,
    c.score.toFixed(6),
    c.complete,
    c.dropped,
    ...names.map((n) => c.params[n]),
    ...metrics.map((m) => c.metrics[m]?.toFixed(6) ?? ""),
  ]);
  return csv([header, ...rows]);
}

function markdownTable(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  if (!head) return "";
  return [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...body.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function reportMd(report: RunReport): string {
  const best = report.best;
  const lines = [
    `# Optimization report: ${report.api_name}`,
    "",
    `Run \`${report.run_id}\`, ${report.algorithm}, seed ${report.seed}, ${report.started_at} to ${report.finished_at}.`,
    "",
    "## Result",
    "",
    best ? `Best score **${best.score.toFixed(4)}** with:` : `No result: ${report.error}`,
    "",
  ];
  if (best) lines.push("```json", JSON.stringify(best.config, null, 2), "```", "");
  lines.push(
    `${report.generations_run} generations, ${report.configs_generated} candidates, ` +
      `${report.target_calls} target calls (${report.failed_calls} failed, ${report.retries} retries), ` +
      `${report.cost_usd.toFixed(4)} USD of target cost and ${report.evaluation_cost_usd.toFixed(4)} USD of scoring. ` +
      `Stopped by ${report.stop_reason.replace(/_/g, " ")}.`,
    "",
    "## Generations",
    "",
    markdownTable([
      ["generation", "best so far", "generation best", "mean", "calls", "complete", "stopped early"],
      ...report.history.map((h) => [
        // Counted from 1, as the CLI's progress, `runs show` and the dashboard count them.
        String(h.generation + 1),
        h.best?.toFixed(4) ?? "-",
        h.generation_best?.toFixed(4) ?? "-",
        h.mean?.toFixed(4) ?? "-",
        String(h.calls),
        String(h.complete),
        String(h.dropped),
      ]),
    ]),
    "",
  );
  if (report.failures.length > 0) {
    lines.push(
      "## Failures",
      "",
      markdownTable([
        ["test case", "failed", "of", "why"],
        ...report.failures.map((f) => [
          f.test_case_id,
          String(f.failures),
          String(f.evaluations),
          f.reasons.map((r) => `${r.count}x ${r.kind}: ${r.message.replace(/\|/g, "/")}`).join("<br>"),
        ]),
      ]),
      "",
    );
  }
  if (report.warnings.length > 0) {
    lines.push("## Warnings", "", ...report.warnings.map((w) => `- \`${w.path}\`: ${w.message}`), "");
  }
  return lines.join("\n");
}

/** `preferences`: SAO's preference pairs, written as preferences.jsonl when the run collected them. */
export async function writeOutputs(dir: string, report: RunReport, preferences?: readonly PreferencePair[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const bestConfig: Record<string, JsonValue> = {
    _README: {
      description: `Best parameters found for ${report.api_name} by Convergence`,
      how_to_use: "Send these parameters with your requests (they are merged into the request body), or promote them to runtime arms.",
      score_achieved: report.best?.score ?? null,
      score_scale: "0.0-1.0, the weighted mean of the metrics over the test cases",
      timestamp: report.finished_at,
      optimization_run_id: report.run_id,
    },
    config: report.best?.config ?? null,
  };
  const files: Record<string, string> = {
    "best_config.json": `${JSON.stringify(bestConfig, null, 2)}\n`,
    "detailed_results.json": `${JSON.stringify(
      {
        run_id: report.run_id,
        seed: report.seed,
        best: report.best,
        history: report.history,
        failures: report.failures,
        candidates: report.candidates,
        evaluations: report.evaluations,
      },
      null,
      2,
    )}\n`,
    "report.md": reportMd(report),
    "experiments.csv": experimentsCsv(report),
    ...(preferences ? { "preferences.jsonl": preferencesJsonl(preferences) } : {}),
  };
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return Object.keys(files).map((name) => join(dir, name));
}
