/**
 * `convergence runtime ...`: the runtime loop of a running service, from the shell. Output is JSON on stdout.
 *   configure SYSTEM FILE                  create or replace a system's runtime config (YAML or JSON)
 *   select SYSTEM --user U [--agent-type A] [--context JSON]
 *   update SYSTEM --user U --decision D [--reward R] [--engagement E] [--grading G]
 *   arms SYSTEM --user U [--agent-type A]
 * The service is CONVERGENCE_URL (default the local one) with CONVERGENCE_API_KEY (default .dev.vars).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { formatFromName, parseConfigText } from "../config/parse.js";
import type { JsonValue } from "../json.js";
import type { RuntimeConfigInput } from "../runtime/schema.js";
import { createClient } from "../sdk/client.js";
import { reportApiError } from "./api-error.js";
import type { Io } from "./main.js";

export const RUNTIME_USAGE = `convergence runtime: the runtime loop of a running service
  convergence runtime configure SYSTEM FILE
  convergence runtime select SYSTEM --user U [--agent-type A] [--context JSON]
  convergence runtime update SYSTEM --user U --decision D [--reward R] [--engagement E] [--grading G]
  convergence runtime arms SYSTEM --user U [--agent-type A]
The service: CONVERGENCE_URL (default http://127.0.0.1:8787), key CONVERGENCE_API_KEY (default from .dev.vars).
`;

export class RuntimeUsageError extends Error {}

function number(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new RuntimeUsageError(`--${name} must be a number, got '${text}'`);
  return value;
}

function required(name: string, value: string | undefined): string {
  if (value === undefined || value === "") throw new RuntimeUsageError(`--${name} is required`);
  return value;
}

export async function runtimeCommand(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      user: { type: "string" },
      "agent-type": { type: "string" },
      context: { type: "string" },
      decision: { type: "string" },
      reward: { type: "string" },
      engagement: { type: "string" },
      grading: { type: "string" },
    },
  });
  const [action, system, file] = positionals;
  if (!action || !system) throw new RuntimeUsageError("runtime needs an action and a SYSTEM");
  const client = createClient();
  const agentType = values["agent-type"];
  const print = (value: unknown) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  try {
    switch (action) {
      case "configure": {
        if (!file) throw new RuntimeUsageError("runtime configure needs a config FILE");
        const parsed = parseConfigText(readFileSync(file, "utf8"), formatFromName(file) ?? "yaml", file);
        if (parsed.errors.length > 0) throw new RuntimeUsageError(parsed.errors.map((e) => e.message).join("; "));
        print(await client.configureSystem(system, parsed.value as RuntimeConfigInput));
        return 0;
      }
      case "select": {
        let context: Record<string, JsonValue> | undefined;
        if (values.context !== undefined) {
          try {
            context = JSON.parse(values.context);
          } catch {
            throw new RuntimeUsageError("--context must be a JSON object");
          }
        }
        print(
          await client.select(system, {
            userId: required("user", values.user),
            ...(agentType ? { agentType } : {}),
            ...(context ? { context } : {}),
          }),
        );
        return 0;
      }
      case "update": {
        const reward = number("reward", values.reward);
        const engagementScore = number("engagement", values.engagement);
        const gradingScore = number("grading", values.grading);
        print(
          await client.update(system, {
            userId: required("user", values.user),
            decisionId: required("decision", values.decision),
            ...(reward !== undefined ? { reward } : {}),
            ...(engagementScore !== undefined ? { engagementScore } : {}),
            ...(gradingScore !== undefined ? { gradingScore } : {}),
          }),
        );
        return 0;
      }
      case "arms":
        print(await client.arms(system, { userId: required("user", values.user), ...(agentType ? { agentType } : {}) }));
        return 0;
      default:
        throw new RuntimeUsageError(`unknown runtime action '${action}'`);
    }
  } catch (error) {
    return reportApiError(error, io);
  }
}
