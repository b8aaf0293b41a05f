import type { BestSelector } from "./selector.js";

/** The config with the highest measured full score. */
export const measuredBest: BestSelector = {
  name: "measured",
  choose: (context) => ({ best: context.measured, state: null }),
};
