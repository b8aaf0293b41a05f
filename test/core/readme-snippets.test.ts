/**
 * The README's shell lines a user pastes first, run as written: the key line must give one line, the key alone,
 * from a .dev.vars made from .dev.vars.example (whose comment lines also name CONVERGENCE_API_KEY).
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");

describe("the README's shell snippets", () => {
  it("reads the dev key from .dev.vars as exactly one line, the key itself", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const line = readme.split("\n").find((l) => l.startsWith("KEY=$("));
    expect(line).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), "readme-key-"));
    try {
      copyFileSync(join(root, ".dev.vars.example"), join(dir, ".dev.vars"));
      const out = execFileSync("bash", ["-c", `${line}\nprintf '%s' "$KEY"`], { cwd: dir, encoding: "utf8" });
      expect(out).toBe("dev-local-key");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
