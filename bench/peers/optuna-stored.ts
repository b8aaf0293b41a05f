/**
 * Optuna's figures from a past run, for when no Python with Optuna is found: the median over 20 seeds (1 to 20)
 * of the best loss after 50 and after 200 sequential trials of one 200-trial study, per problem. Regret is
 * computed from them against the random search of the run that prints them. Re-measure with
 * `npm run bench:optimizer -- side-by-side --print-stored`.
 */
export const OPTUNA_STORED: {
  date: string;
  versions: { optuna: string; cmaes: string };
  best: Record<string, { tpe: [number, number]; cmaes: [number, number] }>;
} = {
  date: "",
  versions: { optuna: "", cmaes: "" },
  best: {},
};
