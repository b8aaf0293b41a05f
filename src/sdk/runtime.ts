/**
 * The seed's runtime functions, in-process: configureRuntime, runtimeSelect, runtimeUpdate, runtimeGetDecision,
 * runtimeEvolveArms (plus runtimeArms). One RuntimeManager per system, over the storage the app provides.
 */
import { evolveArms } from "../bandit/evolve.js";
import { describeIssues, fromZodIssues } from "../config/issues.js";
import { RuntimeManager } from "../runtime/manager.js";
import {
  type ArmTemplate,
  type ArmView,
  type RuntimeConfigInput,
  RuntimeConfigSchema,
  type RuntimeDecision,
  type RuntimeSelection,
  type UpdateResult,
} from "../runtime/schema.js";
import { coerceArm, type RuntimeStorage } from "../runtime/storage.js";
import type { SearchSpace } from "../search/space.js";
import { type RuntimeSelectOptions, type RuntimeUpdateOptions, selectRequest, updateRequest } from "./runtime-requests.js";

export type { RuntimeSelectOptions, RuntimeUpdateOptions } from "./runtime-requests.js";

const managers = new Map<string, RuntimeManager>();

function manager(system: string): RuntimeManager {
  const found = managers.get(system);
  if (!found) {
    throw new Error(
      `Runtime storage is not configured for system '${system}'. Provide a RuntimeStorage implementation via configureRuntime('${system}', { config, storage }).`,
    );
  }
  return found;
}

/** Register (or replace) a system's runtime config and storage. A bad config throws, naming each problem. */
export async function configureRuntime(system: string, options: { config: RuntimeConfigInput; storage: RuntimeStorage }): Promise<void> {
  const parsed = RuntimeConfigSchema.safeParse(options.config);
  if (!parsed.success) throw new Error(`Invalid runtime config for '${system}': ${describeIssues(fromZodIssues(parsed.error.issues))}`);
  if (!options.storage) throw new Error("configureRuntime needs a storage (for example new MemoryRuntimeStorage())");
  managers.set(system, new RuntimeManager(system, parsed.data, options.storage));
}

export async function runtimeSelect(system: string, options: RuntimeSelectOptions): Promise<RuntimeSelection> {
  return manager(system).select(selectRequest(options));
}

export async function runtimeUpdate(system: string, options: RuntimeUpdateOptions): Promise<UpdateResult> {
  return manager(system).update(updateRequest(options));
}

export async function runtimeGetDecision(system: string, options: { userId: string; decisionId: string }): Promise<RuntimeDecision | null> {
  return manager(system).getDecision(options);
}

export async function runtimeArms(system: string, options: { userId: string; agentType?: string }): Promise<ArmView[]> {
  return manager(system).arms(options);
}

/** New arm templates bred from a user's best arms (not added: pass them to the system's default arms to use them). */
export async function runtimeEvolveArms(
  system: string,
  options: { userId: string; agentType?: string; topN?: number; searchSpace?: SearchSpace; storage?: RuntimeStorage; seed?: number },
): Promise<ArmTemplate[]> {
  const m = manager(system);
  const storage = options.storage ?? m.storage;
  const raw = await storage.getArms({ userId: options.userId, agentType: m.agentTypeOf(options.agentType) });
  const arms = raw.map((a) => coerceArm(a as unknown as Record<string, unknown>));
  return evolveArms(arms, {
    ...(options.topN !== undefined ? { topN: options.topN } : {}),
    ...(options.searchSpace ? { searchSpace: options.searchSpace } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
}
