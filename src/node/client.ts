/**
 * createClient for Node: as the neutral one, and for the local service only (http://127.0.0.1 or localhost) the
 * key `npm start` wrote to .dev.vars in the working directory, so a local script needs no setup. That key is
 * never sent anywhere else.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { clientFactory } from "../sdk/client.js";

const LOCAL_SERVICE = /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/;

/** The API key of a .dev.vars file (KEY=value lines), or null. */
function keyFromDevVars(text: string): string | null {
  for (const line of text.split(/\r?\n/)) {
    const match = line.match(/^\s*CONVERGENCE_API_KEY\s*=\s*"?([^"#\s]+)"?/);
    if (match?.[1]) return (match[1].split(",")[0] as string).trim();
  }
  return null;
}

/** A KeyFallback: the key of .dev.vars in the working directory, for the local service only. */
export async function devVarsKey(baseUrl: string): Promise<string | null> {
  if (!LOCAL_SERVICE.test(baseUrl)) return null;
  try {
    return keyFromDevVars(await readFile(".dev.vars", "utf8"));
  } catch {
    return null;
  }
}

/** Where the local service's key was looked for, when none was found. */
export function devVarsHint(baseUrl: string): string {
  if (!LOCAL_SERVICE.test(baseUrl)) return "";
  return `; for the local service the key of .dev.vars is used, and there is none in ${join(process.cwd(), ".dev.vars")} (run from the folder where \`npm start\` runs)`;
}

/** createClient (convergence's), with the key of .dev.vars for the local service when no other is given. */
export const createClient = clientFactory(devVarsKey, devVarsHint);
