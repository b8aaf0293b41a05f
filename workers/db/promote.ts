/**
 * Promotion: a run's best distinct configs become arms of a system. Arm ids come from the config's hash, so
 * promoting the same config twice adds it once; each arm records the run it came from.
 */
import type { ArmTemplateInput } from "../../src/runtime/schema.js";
import { RuntimeConfigSchema } from "../../src/runtime/schema.js";
import type { CandidateRecord } from "../../src/sdk/execute.js";
import { hashConfig } from "../../src/search/hash.js";
import { putSystem, readSystem, type SystemSnapshot } from "./systems";

export interface PromoteRequest {
  system: string;
  agent_type?: string;
  top_k: number;
}

/** The best `topK` distinct fully scored configs, best first. */
export function bestDistinct(candidates: readonly Pick<CandidateRecord, "params" | "score" | "complete">[], topK: number) {
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

export async function promote(
  db: D1Database,
  request: PromoteRequest,
  runId: string,
  candidates: readonly Pick<CandidateRecord, "params" | "score" | "complete">[],
): Promise<{ system: SystemSnapshot; added: string[] }> {
  const chosen = bestDistinct(candidates, request.top_k);
  const current = await readSystem(db, request.system);
  const config = current?.config ?? RuntimeConfigSchema.parse(request.agent_type ? { agent_type: request.agent_type } : {});
  const arms: ArmTemplateInput[] = [...config.default_arms];
  const added: string[] = [];
  chosen.forEach((c, rank) => {
    const armId = `opt_${hashConfig(c.params).slice(0, 10)}`;
    if (arms.some((a) => a.arm_id === armId)) return;
    added.push(armId);
    arms.push({
      arm_id: armId,
      name: `#${rank + 1} of run ${runId}`,
      params: c.params,
      description: `promoted from optimization run ${runId} with score ${c.score.toFixed(4)}`,
      source: { run_id: runId, score: c.score },
    });
  });
  const system = await putSystem(db, request.system, RuntimeConfigSchema.parse({ ...config, default_arms: arms }));
  return { system, added };
}
