import { MAX_PAGE_LIMIT } from "../../page.js";
import { ConvergenceApiError, type ConvergenceClient } from "../../sdk/client.js";
import { createClient } from "../client.js";

/** Where a command writes: results (and --json) to stdout, progress and problems to stderr. */
export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** The service's advice names its HTTP routes; at the command line, the command that does the same is the advice. */
const COMMAND_FOR_ROUTE: readonly [RegExp, string][] = [[/\bPUT \/v1\/systems\/([^\s:;,)]+)/g, "convergence runtime configure $1 FILE"]];

function inCommandWords(message: string): string {
  return COMMAND_FOR_ROUTE.reduce((text, [route, command]) => text.replace(route, command), message);
}

/**
 * A service's refusal as the CLI shows it, each problem once (the message of a refusal with details is those
 * details joined): exit 2 for a 4xx, else 1.
 */
export function reportApiError(error: unknown, io: Io): number {
  if (!(error instanceof ConvergenceApiError)) throw error;
  const hint = error.code === "unreachable" ? " (is the service running? `npm start`)" : "";
  const headline = error.details.length > 0 ? `${error.code.replaceAll("_", " ")}:` : inCommandWords(error.message);
  io.stderr.write(`convergence: ${headline}${hint}\n`);
  for (const d of error.details) io.stderr.write(`  ${d.path ? `${d.path}: ` : ""}${inCommandWords(d.message)}\n`);
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

/** `--limit N` of a listing command: at most N items (a whole number from 1); undefined when not given (all of them). */
export function itemLimit(text: string | undefined, usage: new (message: string) => Error): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new usage(`--limit must be a whole number from 1, got '${text}'`);
  return Number(text);
}

/** The page size that reads `max` items (or all of them) in the fewest calls. */
export const pageSizeFor = (max: number | undefined): number => Math.min(max ?? MAX_PAGE_LIMIT, MAX_PAGE_LIMIT);

/**
 * A listing's items printed as they arrive, page by page, until `max` (or the last page): a line each, or with
 * --json one JSON array at the end (the shape these commands printed before pages). Stopping early reads no more pages.
 */
export async function printListing<T>(
  io: Io,
  items: AsyncIterable<T>,
  how: { max: number | undefined; json: boolean; line: (item: T) => string; none?: string },
): Promise<void> {
  const all: T[] = [];
  let count = 0;
  if ((how.max ?? 1) > 0) {
    for await (const item of items) {
      if (how.json) all.push(item);
      else io.stdout.write(`${how.line(item)}\n`);
      if (++count === how.max) break;
    }
  }
  if (how.json) printJson(io, all);
  else if (count === 0 && how.none !== undefined) io.stdout.write(`${how.none}\n`);
}
