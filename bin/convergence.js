#!/usr/bin/env node
// The CLI runs the compiled core: npm ci builds it in a clone (the `dependencies` script), npm pack before packing.
import { existsSync } from "node:fs";

const entry = new URL("../dist/src/node/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("convergence: the package is not built yet; run `npm run build` in its folder\n");
  process.exit(1);
}
// `convergence ... | head` closes the pipe early: that is not an error worth a stack trace.
process.stdout.on("error", (error) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
