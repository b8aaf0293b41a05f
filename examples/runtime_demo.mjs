#!/usr/bin/env node
// The runtime loop, end to end: a system with three arms whose true reward rates are 0.3, 0.5 and 0.7, and 2,000
// select/update rounds for one user. Thompson sampling should send at least 80% of the last 1,000 selections to
// the best arm.
//
//   npm start                                  # in another terminal: the local service
//   node examples/runtime_demo.mjs             # against it (CONVERGENCE_URL / CONVERGENCE_API_KEY, else local + .dev.vars)
//   node examples/runtime_demo.mjs --in-process   # the same through the SDK, no service
import { configureRuntime, createClient, MemoryRuntimeStorage, runtimeSelect, runtimeUpdate } from "convergence/node";

const RATES = { careful: 0.3, balanced: 0.5, bold: 0.7 };
const ROUNDS = 2000;
const system = "runtime_demo";
const user = `user_${Date.now().toString(36)}`;
const config = { default_arms: Object.entries(RATES).map(([arm_id, rate]) => ({ arm_id, params: { true_rate: rate } })) };

let select;
let update;
if (process.argv.includes("--in-process")) {
  await configureRuntime(system, { config, storage: new MemoryRuntimeStorage() });
  select = () => runtimeSelect(system, { userId: user });
  update = (decisionId, reward) => runtimeUpdate(system, { userId: user, decisionId, reward });
} else {
  const client = createClient();
  await client.configureSystem(system, config);
  select = () => client.select(system, { userId: user });
  update = (decisionId, reward) => client.update(system, { userId: user, decisionId, reward });
}

const counts = Object.fromEntries(Object.keys(RATES).map((arm) => [arm, 0]));
const started = Date.now();
for (let round = 0; round < ROUNDS; round++) {
  const selection = await select();
  if (round >= ROUNDS / 2) counts[selection.arm_id] += 1;
  const reward = Math.random() < RATES[selection.arm_id] ? 1 : 0;
  await update(selection.decision_id, reward);
}
const share = counts.bold / (ROUNDS / 2);
console.log(`last ${ROUNDS / 2} selections: ${JSON.stringify(counts)}`);
console.log(`best arm (bold, 0.7) share: ${(share * 100).toFixed(1)}% in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = share >= 0.8 ? 0 : 1;
