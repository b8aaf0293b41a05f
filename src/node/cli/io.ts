import { ConvergenceApiError, type ConvergenceClient } from "../../sdk/client.js";
import { createClient } from "../client.js";

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

/** The client of the service a command names with --server (default: CONVERGENCE_URL, else the local one). */
export function serviceClient(server: string | undefined): ConvergenceClient {
  return createClient(server ? { baseUrl: server } : {});
}

/** An answer printed as the service gave it, for --json and for commands whose output is the answer. */
export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
