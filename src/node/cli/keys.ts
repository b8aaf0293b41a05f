/**
 * `convergence keys ...`: scoped API keys of a service, from the shell (an admin key is needed).
 *   create --scope admin|runtime [--systems a,b] [--name N] [--json]
 *   list [--limit N] [--json]       every key, newest first (the first N)
 *   revoke KEY_ID
 */
import { parseArgs } from "node:util";
import type { ApiKey } from "../../keys/schema.js";
import { type Io, itemLimit, pageSizeFor, printJson, printListing, reportApiError, serviceClient } from "./io.js";

export const KEYS_USAGE = `convergence keys: scoped API keys of a Convergence service (needs an admin key)
  convergence keys create --scope admin|runtime [--systems a,b] [--name N] [--json]
  convergence keys list [--limit N] [--json]
  convergence keys revoke KEY_ID
A runtime key can only select, update and read decisions, on --systems (default: every system); an admin key can
do everything. The key is printed once, by create: keep it then.
The service: --server URL, else CONVERGENCE_URL (default http://127.0.0.1:8787); key CONVERGENCE_API_KEY.
`;

export class KeysUsageError extends Error {}

function listLine(key: ApiKey): string {
  const state = key.revoked_at ? `revoked ${key.revoked_at.replace("T", " ").slice(0, 19)}` : "active";
  const when = key.created_at.replace("T", " ").slice(0, 19);
  return `${key.id}  ${key.scope.padEnd(7)}  ${key.systems.join(",").padEnd(20)}  ${state.padEnd(27)}  ${when}${key.name ? `  ${key.name}` : ""}`;
}

export async function keysCommand(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      server: { type: "string" },
      scope: { type: "string" },
      systems: { type: "string" },
      name: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const [action, keyId, ...extra] = positionals;
  if (!action) throw new KeysUsageError("keys needs an action: create, list or revoke");
  if (extra.length > 0) throw new KeysUsageError(`unexpected argument '${extra[0]}'`);
  if (action !== "revoke" && keyId) throw new KeysUsageError(`unexpected argument '${keyId}'`);
  const client = serviceClient(values.server);
  const print = (value: unknown) => printJson(io, value);
  try {
    switch (action) {
      case "create": {
        if (values.scope !== "admin" && values.scope !== "runtime")
          throw new KeysUsageError("keys create needs --scope admin or --scope runtime");
        const systems = values.systems
          ?.split(",")
          .map((s) => s.trim())
          .filter(Boolean);
        const created = await client.createKey({
          scope: values.scope,
          ...(systems ? { systems } : {}),
          ...(values.name ? { name: values.name } : {}),
        });
        if (values.json) print(created);
        else {
          io.stdout.write(`${created.key}\n`);
          io.stderr.write(
            `${created.id}: a ${created.scope} key for ${created.systems.join(", ")}. It is not shown again: keep it now (revoke it with convergence keys revoke ${created.id}).\n`,
          );
        }
        return 0;
      }
      case "list": {
        const max = itemLimit(values.limit, KeysUsageError);
        await printListing(io, client.listKeys({ limit: pageSizeFor(max) }), {
          max,
          json: values.json,
          line: listLine,
          none: "no keys (the CONVERGENCE_API_KEY secret's bootstrap keys are not listed)",
        });
        return 0;
      }
      case "revoke": {
        if (!keyId) throw new KeysUsageError("keys revoke needs a KEY_ID (see convergence keys list)");
        const revoked = await client.revokeKey(keyId);
        io.stdout.write(`${revoked.id}: revoked\n`);
        return 0;
      }
      default:
        throw new KeysUsageError(`unknown keys action '${action}'`);
    }
  } catch (error) {
    return reportApiError(error, io);
  }
}
