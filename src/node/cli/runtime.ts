/**
 * `convergence runtime ...`: the runtime loop of a running service, from the shell. Output is JSON on stdout.
 *   configure SYSTEM FILE                  create or replace a system's runtime config (YAML or JSON)
 *   select SYSTEM --user U [--agent-type A] [--context JSON]
 *   update SYSTEM --user U --decision D [--reward R] [--engagement E] [--grading G]
 *   arms SYSTEM --user U [--agent-type A]
 *   evaluate SYSTEM POLICY_FILE [--limit N] [--agent-type A] [--json]   (or --system S --policy FILE)
 *   systems [--limit N] [--json]           every system, most recently changed first (the first N)
 *   decisions --system S [--user U] [--limit N]   the decision log, newest first, a JSON object a line
 *   forget --system S --user U                 forget a user: their arms and decisions, every agent type
 *   export --system S [--since DATE] [--output FILE]
 * The service is --server URL, else CONVERGENCE_URL (default the local one), with CONVERGENCE_API_KEY (default .dev.vars).
 */
import { createWriteStream, existsSync, readFileSync, renameSync, rmSync, type WriteStream } from "node:fs";
import { parseArgs } from "node:util";
import { type Estimate, EvaluateRequestSchema, type PolicyEvaluation, parseOfflinePolicy, type SkipReason } from "../../bandit/offline.js";
import { formatFromName, parseConfigText } from "../../config/parse.js";
import type { JsonValue } from "../../json.js";
import type { RuntimeConfigInput, SystemListItem } from "../../runtime/schema.js";
import type { ConvergenceClient } from "../../sdk/client.js";
import { type Io, itemLimit, pageSizeFor, printJson, printListing, reportApiError, serviceClient } from "./io.js";

export const RUNTIME_USAGE = `convergence runtime: the runtime loop of a running service
  convergence runtime configure SYSTEM FILE
  convergence runtime select SYSTEM --user U [--agent-type A] [--context JSON]
  convergence runtime update SYSTEM --user U --decision D [--reward R] [--engagement E] [--grading G]
  convergence runtime arms SYSTEM --user U [--agent-type A]
  convergence runtime evaluate SYSTEM POLICY_FILE [--limit N] [--agent-type A] [--json]
  convergence runtime systems [--limit N] [--json]
  convergence runtime decisions --system S [--user U] [--limit N]
  convergence runtime forget --system S --user U
  convergence runtime export --system S [--since DATE] [--output FILE]
evaluate   estimate a policy's mean reward from the system's newest N (default 5000) rewarded decisions,
           off-policy (IPS, SNIPS and doubly robust, 95% intervals); SYSTEM and POLICY_FILE may also be given as
           --system S and --policy FILE. The file (YAML or JSON) is one of
             {type: static, weights: {arm: w}}        fixed shares
             {type: greedy}                           the arm of highest posterior mean
             {type: thompson, selection_policy?, top_two_beta?, traffic_floor?, selection_strategy?}
             {type: rule, rules: [{when: {key: value}, arm: A}], otherwise?: B}   the first matching rule's arm
             {type: contextual, context_features?}    a context model fitted from the log (default: the system's
                                                      context_features), choosing by Thompson sampling
systems    every system (or the N most recently changed), a line each; --json: one JSON array
decisions  the system's decisions (of user U), newest first, one JSON object a line as pages arrive: all of them,
           or the newest N (needs an admin key)
export     the system's decision log since DATE (ISO date or timestamp), archived decisions included, as NDJSON
           (one decision a line, oldest first) on stdout or to FILE
forget     remove a user's arms and decisions from the service, for every agent type (needs an admin key);
           prints what was removed (all zeros when nothing was left); the system's totals are kept
The service: --server URL, else CONVERGENCE_URL (default http://127.0.0.1:8787); key CONVERGENCE_API_KEY (default from .dev.vars).
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
      system: { type: "string" },
      policy: { type: "string" },
      limit: { type: "string" },
      since: { type: "string" },
      output: { type: "string" },
      server: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const [action, system, file] = positionals;
  const client = serviceClient(values.server);
  /**
   * The system of an action that takes it as --system S or as its first positional argument (not both, unless
   * equal); a FILE after it only where the action reads one.
   */
  const systemOf = (name: string, takesFile = false): string => {
    if (file !== undefined && !takesFile) throw new RuntimeUsageError(`unexpected argument '${file}'`);
    if (system !== undefined && values.system !== undefined && system !== values.system) {
      throw new RuntimeUsageError(`two systems: '${system}' and --system '${values.system}'`);
    }
    const target = system ?? values.system;
    if (!target) throw new RuntimeUsageError(`runtime ${name} needs --system S`);
    return target;
  };
  if (action === "evaluate") {
    const target = systemOf(action, true);
    if (file !== undefined && values.policy !== undefined && file !== values.policy) {
      throw new RuntimeUsageError(`two policy files: '${file}' and --policy '${values.policy}'`);
    }
    const policyFile = file ?? values.policy;
    if (!policyFile) throw new RuntimeUsageError("runtime evaluate needs --policy FILE (or a POLICY_FILE after SYSTEM)");
    return evaluateAction(client, { system: target, policyFile, limit: values.limit, agentType: values["agent-type"] }, values.json, io);
  }
  if (action === "forget") {
    const target = systemOf(action);
    const userId = required("user", values.user);
    try {
      printJson(io, await client.forgetUser(target, { userId }));
      return 0;
    } catch (error) {
      return reportApiError(error, io);
    }
  }
  if (action === "export") {
    const target = systemOf(action);
    return exportAction(client, { system: target, since: values.since, output: values.output }, io);
  }
  if (action === "systems" || action === "decisions") {
    if (system !== undefined) throw new RuntimeUsageError(`unexpected argument '${system}'`);
    const max = itemLimit(values.limit, RuntimeUsageError);
    if (action === "systems")
      return listAction(io, client.listSystems({ limit: pageSizeFor(max) }), {
        max,
        json: values.json,
        line: systemLine,
        none: "no systems",
      });
    if (!values.system) throw new RuntimeUsageError("runtime decisions needs --system S");
    const decisions = client.listDecisions(values.system, { limit: pageSizeFor(max), ...(values.user ? { userId: values.user } : {}) });
    // A log can be long: each decision is printed as its page arrives, as JSON on a line of its own.
    return listAction(io, decisions, { max, json: false, line: (d) => JSON.stringify(d) });
  }
  if (!action || !system) throw new RuntimeUsageError("runtime needs an action and a SYSTEM");
  const agentType = values["agent-type"];
  const print = (value: unknown) => printJson(io, value);
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

function systemLine(s: SystemListItem): string {
  const when = s.updated_at.replace("T", " ").slice(0, 19);
  return `${s.system}  ${s.agent_type}  ${s.arms} arm${s.arms === 1 ? "" : "s"}  version ${s.version}  changed ${when}`;
}

async function listAction<T>(io: Io, items: AsyncIterable<T>, how: Parameters<typeof printListing<T>>[2]): Promise<number> {
  try {
    await printListing(io, items, how);
    return 0;
  } catch (error) {
    return reportApiError(error, io);
  }
}

const SKIPPED: Record<SkipReason, string> = {
  no_reward: "without a reward",
  no_probability: "without a logged selection probability",
  zero_probability: "with a logged selection probability of 0",
  no_snapshot: "without the arms' snapshot (logged before it was recorded)",
  arm_not_in_snapshot: "whose arm is missing from their snapshot",
  policy_has_no_arm: "where none of the policy's arms was available",
  no_matching_rule: "where no rule matched the context (and the policy has no otherwise)",
};

function estimateLine(label: string, estimate: Estimate | null): string {
  if (!estimate) return `  ${label.padEnd(15)} --`;
  const interval = estimate.interval ? `${estimate.interval.lower.toFixed(4)} to ${estimate.interval.upper.toFixed(4)}` : "no interval";
  return `  ${label.padEnd(15)} ${estimate.value.toFixed(4).padEnd(11)}  ${interval}`;
}

function evaluationText(result: PolicyEvaluation): string {
  const scope = result.agent_type ? `agent type ${result.agent_type}` : "all agent types";
  const window = result.window ? ` (${result.window.oldest} to ${result.window.newest})` : "";
  const lines = [
    `policy ${JSON.stringify(result.policy)}`,
    `system ${result.system}, ${scope}: ${result.n} of ${result.decisions} rewarded decisions used${window}`,
  ];
  for (const [reason, count] of Object.entries(result.skipped)) {
    if (count > 0) lines.push(`  skipped ${count} ${SKIPPED[reason as SkipReason]}`);
  }
  lines.push(
    `  ${"".padEnd(15)} ${"mean reward".padEnd(11)}  ${Math.round(result.confidence * 100)}% interval`,
    estimateLine("IPS", result.ips),
    estimateLine("SNIPS", result.snips),
    estimateLine("DR", result.dr),
    estimateLine("logging policy", result.logging_policy),
    `DR's outcome model: ${result.outcome_model}`,
    `effective sample size ${result.effective_sample_size.toFixed(1)}, largest weight ${result.max_weight.toFixed(3)}`,
    ...result.warnings.map((w) => `warning: ${w}`),
  );
  return `${lines.join("\n")}\n`;
}

/** `runtime evaluate`: the policy file is checked here first, so a bad one costs no call and names its field. */
async function evaluateAction(
  client: ConvergenceClient,
  args: { system: string; policyFile: string; limit: string | undefined; agentType: string | undefined },
  json: boolean,
  io: Io,
): Promise<number> {
  let limit: number | undefined;
  if (args.limit !== undefined) {
    if (!/^\d+$/.test(args.limit)) throw new RuntimeUsageError(`--limit must be a whole number, got '${args.limit}'`);
    const checked = EvaluateRequestSchema.shape.limit.safeParse(Number(args.limit));
    if (!checked.success) throw new RuntimeUsageError(`--limit ${args.limit}: ${checked.error.issues[0]?.message}`);
    limit = checked.data;
  }
  const file = args.policyFile;
  if (!existsSync(file)) throw new RuntimeUsageError(`policy file not found: ${file}`);
  const read = parseConfigText(readFileSync(file, "utf8"), formatFromName(file) ?? "yaml", file);
  const { policy, issues } = read.errors.length > 0 ? { policy: null, issues: read.errors } : parseOfflinePolicy(read.value);
  if (!policy) {
    io.stderr.write(`convergence: ${file}: invalid policy\n`);
    for (const issue of issues) io.stderr.write(`  ${issue.path ? `${issue.path}: ` : ""}${issue.message}\n`);
    return 2;
  }
  try {
    const result = await client.evaluatePolicy(args.system, {
      policy,
      ...(limit !== undefined ? { limit } : {}),
      ...(args.agentType ? { agentType: args.agentType } : {}),
    });
    io.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : evaluationText(result));
    return 0;
  } catch (error) {
    return reportApiError(error, io);
  }
}

/**
 * `runtime export`: the log as NDJSON, written as pages arrive (a log can be larger than memory). To a file, it is
 * written beside it first and renamed at the end, so a failed export never leaves a file that looks complete.
 */
async function exportAction(
  client: ConvergenceClient,
  args: { system: string; since: string | undefined; output: string | undefined },
  io: Io,
): Promise<number> {
  const partial = args.output === undefined ? null : `${args.output}.partial`;
  const out = partial === null ? io.stdout : createWriteStream(partial);
  const write = (text: string) => new Promise<void>((resolve, reject) => out.write(text, (error) => (error ? reject(error) : resolve())));
  let count = 0;
  try {
    for await (const decision of client.exportDecisions(args.system, args.since === undefined ? {} : { since: args.since })) {
      await write(`${JSON.stringify(decision)}\n`);
      count++;
    }
  } catch (error) {
    if (partial !== null) {
      (out as WriteStream).destroy();
      rmSync(partial, { force: true });
    }
    return reportApiError(error, io);
  }
  if (partial !== null && args.output !== undefined) {
    await new Promise<void>((resolve) => (out as WriteStream).end(resolve));
    renameSync(partial, args.output);
    io.stderr.write(`convergence: ${count} decisions of ${args.system} written to ${args.output}\n`);
  }
  return 0;
}
