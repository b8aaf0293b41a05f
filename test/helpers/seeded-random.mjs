// Preloaded (node --import) into an example a test runs: Math.random becomes the project's seeded generator
// (src/search/rng.ts, as built in dist), seeded by CONVERGENCE_TEST_SEED, so the example's draws are the same on
// every run. The tests build dist first (test/core/global-setup.ts).
import { Rng } from "../../dist/src/search/rng.js";

const seed = Number(process.env.CONVERGENCE_TEST_SEED);
if (!Number.isSafeInteger(seed)) throw new Error(`CONVERGENCE_TEST_SEED must be an integer, got ${process.env.CONVERGENCE_TEST_SEED}`);
Math.random = Rng.uniform(seed);
