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
  date: "2026-12-03",
  versions: { optuna: "3.1.0", cmaes: "0.9.1" },
  best: {
    Branin: { tpe: [0.570319, 0.401289], cmaes: [1.01198, 0.397895] },
    Hartmann6: { tpe: [-2.73639, -3.2439], cmaes: [-2.61308, -3.28336] },
    llm_mixed: { tpe: [-0.778875, -0.808748], cmaes: [-0.775467, -0.777596] },
    Rastrigin: { tpe: [86.0883, 57.6391], cmaes: [98.1376, 68.5999] },
    Levy: { tpe: [23.1899, 5.4821], cmaes: [16.8136, 2.58215] },
    "Styblinski-Tang": { tpe: [-250.922, -306.571], cmaes: [-226.113, -301.406] },
    Schwefel: { tpe: [991.839, 585.789], cmaes: [1381.74, 1042.05] },
    Griewank: { tpe: [60.9484, 17.1858], cmaes: [53.0623, 6.00139] },
    RotatedEllipsoid: { tpe: [271353, 36022], cmaes: [288161, 48606.3] },
    Rosenbrock20: { tpe: [297090, 57822.3], cmaes: [167271, 16089.2] },
    IntegerQuadratic: { tpe: [210.222, 70.2822], cmaes: [114.963, 21.3153] },
    retrieval_mixed: { tpe: [0.344139, 0.31028], cmaes: [0.387792, 0.338505] },
  },
};
