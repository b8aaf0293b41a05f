import { hashConfig } from "../../search/hash.js";
import { mutateParameter, type ParamConfig, type SearchSpace } from "../../search/space.js";
import type { ProposeContext } from "./sampler.js";

/**
 * A child equal to a config already tried (or already in this generation) costs a population slot and teaches
 * nothing: nudge one random parameter until it is new, a few times at most (a tiny space may be exhausted).
 */
export function makeNovel(
  child: ParamConfig,
  space: SearchSpace,
  taken: ReadonlySet<string>,
  context: ProposeContext,
  tries = 6,
): ParamConfig {
  let candidate = child;
  const names = Object.keys(space);
  for (let i = 0; i < tries && (taken.has(hashConfig(candidate)) || context.isKnown(candidate)); i++) {
    const name = context.rng.pick(names);
    const param = space[name];
    if (!param) break;
    candidate = { ...candidate, [name]: mutateParameter(param, candidate[name] ?? null, context.rng) };
  }
  return candidate;
}
