import { ConvergenceApiError } from "../../sdk/client.js";

/** Where a command writes: results (and --json) to stdout, progress and problems to stderr. */
export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** A service's refusal as the CLI shows it: the message and each problem; exit 2 for a 4xx, else 1. */
export function reportApiError(error: unknown, io: Io): number {
  if (!(error instanceof ConvergenceApiError)) throw error;
  const hint = error.code === "unreachable" ? " (is the service running? `npm start`)" : "";
  io.stderr.write(`convergence: ${error.message}${hint}\n`);
  for (const d of error.details) io.stderr.write(`  ${d.path}: ${d.message}\n`);
  return error.status >= 400 && error.status < 500 ? 2 : 1;
}
