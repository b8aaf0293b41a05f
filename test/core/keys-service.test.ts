/**
 * Scoped keys on the local service (`npm start`) as an operator uses them: the CLI's `keys` commands, a runtime key
 * embedded in an app (select and update only, on its systems), and revocation.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConvergenceApiError, createClient } from "../../src/index.js";
import { localServiceForFile } from "../helpers/local-service.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const service = localServiceForFile();

function cli(args: string[], key = service().key) {
  const result = spawnSync(process.execPath, ["bin/convergence.js", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, CONVERGENCE_URL: service().url, CONVERGENCE_API_KEY: key },
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function refusal(promise: Promise<unknown>): Promise<ConvergenceApiError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConvergenceApiError);
  return error as ConvergenceApiError;
}

describe("convergence keys", () => {
  it("creates a runtime key that selects and updates on its system, and nothing else, until it is revoked", async () => {
    const admin = createClient({ baseUrl: service().url, apiKey: service().key });
    await admin.configureSystem("storefront", { default_arms: [{ arm_id: "a" }, { arm_id: "b" }] });
    await admin.configureSystem("backoffice", { default_arms: [{ arm_id: "a" }] });

    const created = cli(["keys", "create", "--scope", "runtime", "--systems", "storefront", "--name", "storefront app"]);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^cvg_[0-9a-f]{16}_\S{43}$/);
    const id = created.stderr.match(/^(key_[0-9a-f]{16}): a runtime key for storefront\b/)?.[1] as string;
    expect(id).toBeDefined();
    expect(created.stderr).toContain("not shown again");

    const app = createClient({ baseUrl: service().url, apiKey: key });
    const decisionId = (await app.select("storefront", { userId: "u1" })).decision_id as string;
    expect((await app.update("storefront", { userId: "u1", decisionId, reward: 1 })).success).toBe(true);
    expect((await app.getDecision("storefront", { userId: "u1", decisionId })).reward).toBe(1);

    const otherSystem = await refusal(app.select("backoffice", { userId: "u1" }));
    expect(otherSystem.status).toBe(403);
    expect(otherSystem.code).toBe("forbidden");
    const adminRoute = await refusal(app.startRun({ api: { name: "x", mock_mode: true } }));
    expect(adminRoute.status).toBe(403);
    expect(adminRoute.message).toContain("needs the admin scope");

    // The CLI with the runtime key: refused with the reason and exit 2.
    const asRuntime = cli(["keys", "list"], key);
    expect(asRuntime.code).toBe(2);
    expect(asRuntime.stderr).toContain("needs the admin scope");

    const listed = cli(["keys", "list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+runtime\\s+storefront\\s+active.*storefront app$`, "m"));
    expect(listed.stdout).not.toContain(key);

    const revoked = cli(["keys", "revoke", id]);
    expect(revoked).toMatchObject({ code: 0, stdout: `${id}: revoked\n` });
    const after = await refusal(app.select("storefront", { userId: "u1" }));
    expect(after.status).toBe(401);
    expect(cli(["keys", "list"]).stdout).toMatch(new RegExp(`^${id}\\s+runtime\\s+storefront\\s+revoked `, "m"));
  });

  it("refuses bad keys commands with a message and a non-zero exit", () => {
    const noScope = cli(["keys", "create"]);
    expect(noScope.code).toBe(2);
    expect(noScope.stderr).toContain("--scope admin or --scope runtime");
    const adminWithSystems = cli(["keys", "create", "--scope", "admin", "--systems", "storefront"]);
    expect(adminWithSystems.code).toBe(2);
    expect(adminWithSystems.stderr).toContain("systems applies to runtime keys");
    const unknown = cli(["keys", "revoke", "key_ffffffffffffffff"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no key 'key_ffffffffffffffff'");
    const malformed = cli(["keys", "revoke", "nonsense"]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain("key_id");
  });
});
