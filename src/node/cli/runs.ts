/**
 * `convergence runs ...`: optimization runs on a service, from the shell.
 *   list [--system S] [--limit N] [--json]   every run (S's: scheduled for it or promoted into it), newest first
 *   show RUN_ID [--json]
 *   cancel RUN_ID
 *   promote RUN_ID --system S [--top-k K] [--agent-type A]
 * The service is --server URL, else CONVERGENCE_URL (default the local one), with CONVERGENCE_API_KEY.
 */
import { parseArgs } from "node:util";
import type { RunSummary, RunView } from "../../run/schema.js";
import { type Io, itemLimit, pageSizeFor, printJson, printListing, reportApiError, serviceClient } from "./io.js";

export const RUNS_USAGE = `convergence runs: optimization runs on a Convergence service
  convergence runs list [--system S] [--limit N] [--json]
  convergence runs show RUN_ID [--json]
  convergence runs cancel RUN_ID
  convergence runs promote RUN_ID --system S [--top-k K] [--agent-type A]
list --system S: the runs scheduled for S (its reoptimize) and the runs promoted into S, newest first.
The service: --server URL, else CONVERGENCE_URL (default http://127.0.0.1:8787); key CONVERGENCE_API_KEY.
`;

export class RunsUsageError extends Error {}

function integer(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new RunsUsageError(`--${name} must be a positive integer, got '${text}'`);
  return Number(text);
}

const score = (x: number | null | undefined) => (x === null || x === undefined ? "--" : x.toFixed(4));

function listLine(run: RunSummary): string {
  const when = run.created_at.replace("T", " ").slice(0, 19);
  return `${run.run_id}  ${run.status.padEnd(9)}  best ${score(run.best_score)}  ${String(run.target_calls).padStart(5)} calls  ${when}${run.system ? `  system ${run.system}` : ""}`;
}

function showText(view: RunView): string {
  const p = view.progress;
  const lines = [
    `run ${view.run_id} (${view.api_name}, ${view.algorithm}, seed ${view.seed}): ${view.status}`,
    `generation ${Math.min(p.generation, p.generations)}/${p.generations}, ${p.target_calls}/${p.max_calls} target calls, ${p.in_flight} in flight, best ${score(p.best_score)}`,
  ];
  for (const h of view.history)
    lines.push(`  generation ${h.generation + 1}: best ${score(h.best)}, mean ${score(h.mean)}, ${h.calls} calls`);
  const result = view.result;
  if (result?.success) lines.push(`Best score: ${result.best_score.toFixed(4)}`, `Best config: ${JSON.stringify(result.best_config)}`);
  else if (result) lines.push(`Failed: ${result.error}`);
  return `${lines.join("\n")}\n`;
}

export async function runsCommand(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      server: { type: "string" },
      system: { type: "string" },
      limit: { type: "string" },
      "top-k": { type: "string" },
      "agent-type": { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const [action, runId, ...extra] = positionals;
  if (!action) throw new RunsUsageError("runs needs an action: list, show, cancel or promote");
  if (extra.length > 0) throw new RunsUsageError(`unexpected argument '${extra[0]}'`);
  const client = serviceClient(values.server);
  const print = (value: unknown) => printJson(io, value);
  const needRun = () => {
    if (!runId) throw new RunsUsageError(`runs ${action} needs a RUN_ID`);
    return runId;
  };
  try {
    switch (action) {
      case "list": {
        if (runId) throw new RunsUsageError(`unexpected argument '${runId}'`);
        const max = itemLimit(values.limit, RunsUsageError);
        const runs = client.listRuns({ limit: pageSizeFor(max), ...(values.system ? { system: values.system } : {}) });
        await printListing(io, runs, { max, json: values.json, line: listLine, none: "no runs" });
        return 0;
      }
      case "show": {
        const view = await client.getRun(needRun());
        if (values.json) print(view);
        else io.stdout.write(showText(view));
        return 0;
      }
      case "cancel": {
        const view = await client.cancelRun(needRun());
        io.stdout.write(`run ${view.run_id}: ${view.status}\n`);
        return 0;
      }
      case "promote": {
        if (!values.system) throw new RunsUsageError("runs promote needs --system S");
        const topK = integer("top-k", values["top-k"]);
        const promoted = await client.promoteRun(needRun(), {
          system: values.system,
          ...(topK !== undefined ? { top_k: topK } : {}),
          ...(values["agent-type"] ? { agent_type: values["agent-type"] } : {}),
        });
        print(promoted);
        return 0;
      }
      default:
        throw new RunsUsageError(`unknown runs action '${action}'`);
    }
  } catch (error) {
    return reportApiError(error, io);
  }
}
