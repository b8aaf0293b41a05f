/**
 * Promotion: a run's best distinct configs become arms of a system. Arm ids come from the config's hash, so
 * promoting the same config twice adds it once (and leaves the system's version alone); each arm records the run
 * it came from, and the run is listed among the system's runs.
 */
import type { z } from "zod";
import { describeIssues, fromZodIssues } from "../../src/config/issues.js";
import type { CandidateRecord, PromoteRequestSchema } from "../../src/run/schema.js";
import { type ArmTemplateInput, MAX_ARMS, type RuntimeConfig, RuntimeConfigSchema, SystemNameSchema } from "../../src/runtime/schema.js";
import { hashConfig } from "../../src/search/hash.js";
import type { Env } from "../env";
import { chooseLogDatabase } from "./log-database";
import { recordPromotion } from "./runs";
import { putSystemIfVersion, readSystem, StoredConfigInvalid, type SystemSnapshot } from "./systems";

/** POST /v1/runs/{run_id}/promote's body, or a scheduled run's promotion. */
export type PromoteRequest = z.output<typeof PromoteRequestSchema> & {
  /** Scheduled runs: the arms earlier runs promoted make way for this run's (hand-made arms stay). */
  replace_promoted?: boolean;
};

/** The system refuses these arms: the caller's request is at fault, retrying changes nothing. */
export class PromoteError extends Error {}

const ATTEMPTS = 5;

/** The best `topK` distinct fully scored configs, best first. */
function bestDistinct(candidates: readonly Pick<CandidateRecord, "params" | "score" | "complete">[], topK: number) {
  const seen = new Set<string>();
  return [...candidates]
    .filter((c) => c.complete)
    .sort((a, b) => b.score - a.score)
    .filter((c) => {
      const hash = hashConfig(c.params);
      if (seen.has(hash)) return false;
      seen.add(hash);
      return true;
    })
    .slice(0, topK);
}

/** The system's config with these arms, or why it cannot take them. */
function withArms(system: string, config: RuntimeConfig, arms: ArmTemplateInput[]): RuntimeConfig {
  if (arms.length > MAX_ARMS) {
    throw new PromoteError(
      `system '${system}' would have ${arms.length} arms, and a system holds at most ${MAX_ARMS}: remove some, or promote fewer`,
    );
  }
  // A promoted config may break a bound of the runtime (params of more than 8 KiB): refused, naming it.
  const next = RuntimeConfigSchema.safeParse({ ...config, default_arms: arms });
  if (!next.success) {
    throw new PromoteError(`system '${system}' cannot take these arms: ${describeIssues(fromZodIssues(next.error.issues))}`);
  }
  return next.data;
}

export async function promote(
  env: Env,
  request: PromoteRequest,
  runId: string,
  candidates: readonly Pick<CandidateRecord, "params" | "score" | "complete">[],
): Promise<{ system: SystemSnapshot; added: string[] }> {
  // Scheduled runs promote to the system named in their spec: checked here too, not only by the route.
  const name = SystemNameSchema.safeParse(request.system);
  if (!name.success)
    throw new PromoteError(`'${request.system}' cannot name a system: ${describeIssues(fromZodIssues(name.error.issues))}`);
  const chosen = bestDistinct(candidates, request.top_k);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const current = await readSystem(env.DB, request.system).catch((error: unknown) => {
      // A config stored before a bound existed: refused like any other system that cannot take the arms.
      throw error instanceof StoredConfigInvalid ? new PromoteError(error.message) : error;
    });
    const agentType = current?.config.agent_type ?? "default";
    if (current && request.agent_type !== undefined && request.agent_type !== agentType) {
      throw new PromoteError(`system '${request.system}' serves agent type '${agentType}', not '${request.agent_type}'`);
    }
    const config = current?.config ?? RuntimeConfigSchema.parse(request.agent_type ? { agent_type: request.agent_type } : {});
    const before = new Set(config.default_arms.map((a) => a.arm_id));
    const arms: ArmTemplateInput[] = request.replace_promoted ? config.default_arms.filter((a) => !a.source) : [...config.default_arms];
    const added: string[] = [];
    chosen.forEach((c, rank) => {
      const armId = `opt_${hashConfig(c.params).slice(0, 10)}`;
      if (arms.some((a) => a.arm_id === armId)) return;
      if (!before.has(armId)) added.push(armId);
      arms.push({
        arm_id: armId,
        name: `#${rank + 1} of run ${runId}`,
        params: c.params,
        description: `promoted from optimization run ${runId} with score ${c.score.toFixed(4)}`,
        source: { run_id: runId, score: c.score },
      });
    });
    // Promoting what the system already holds changes nothing, so it is not a new version of the system.
    const unchanged = current !== null && JSON.stringify(arms) === JSON.stringify(config.default_arms);
    const system = unchanged
      ? current
      : await putSystemIfVersion(
          env.DB,
          request.system,
          withArms(request.system, config, arms),
          current?.version ?? 0,
          chooseLogDatabase(env, request.system),
        );
    if (system) {
      await recordPromotion(env.DB, runId, request.system);
      return { system, added };
    }
  }
  throw new PromoteError(`system '${request.system}' kept changing while the arms were added: try again`);
}
