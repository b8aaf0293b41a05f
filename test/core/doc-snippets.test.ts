/**
 * The documentation as a user meets it: every shell snippet of README.md and docs/*.md runs here, as written,
 * against `npm start` (scripts/start.mjs) in this clone, or says on the line before it why it is not run
 * (`<!-- snippet: not run (...) -->`, or `<!-- snippet: ran by FILE (...) -->` for one a named test runs). Every
 * link between the pages leads somewhere, and the service serves the pages under /guide/, linked from /docs.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { slug } from "../../scripts/slug.mjs";
import { createClient } from "../../src/node/index.js";
import { localServiceForFile } from "../helpers/local-service.js";
import { runProcess } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PAGES = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const guides = JSON.parse(readFileSync(join(ROOT, "docs/guides.json"), "utf8")) as { page: string; about: string }[];

interface Snippet {
  page: string;
  line: number;
  code: string;
  /** The `<!-- snippet: ... -->` note on the line before, if any. */
  note: string | null;
}

function snippets(page: string): Snippet[] {
  const lines = readFileSync(join(ROOT, page), "utf8").split("\n");
  const found: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== "```sh") continue;
    const end = lines.indexOf("```", i + 1);
    const note = lines[i - 1]?.match(/^<!-- snippet: (.+) -->$/)?.[1] ?? null;
    found.push({ page, line: i + 1, code: lines.slice(i + 1, end).join("\n"), note });
    i = end;
  }
  return found;
}

const ALL = PAGES.flatMap(snippets);
const RUNNABLE = ALL.filter((s) => s.note === null);

function anchors(page: string): Set<string> {
  const text = readFileSync(join(ROOT, page), "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] as string)));
}

describe("the documentation's pages", () => {
  it("give every shell snippet a run here, or a reason on the line before it", () => {
    expect(RUNNABLE.length).toBeGreaterThan(10);
    for (const s of ALL.filter((x) => x.note !== null)) {
      const where = `${s.page}:${s.line}`;
      const ranBy = s.note?.match(/^ran by (\S+) \(.+\)$/);
      if (ranBy) {
        const test = readFileSync(join(ROOT, ranBy[1] as string), "utf8");
        // The test names what the snippet runs: each file it passes to a command.
        for (const file of s.code.match(/\b[\w./-]+\.(?:mjs|yaml|ts)\b/g) ?? []) expect(test, where).toContain(file);
      } else expect(s.note, where).toMatch(/^not run \(.{10,}\)$/);
    }
  });

  it("link to pages and sections that exist, and the README and docs/guides.json list every page", () => {
    for (const page of PAGES) {
      const text = readFileSync(join(ROOT, page), "utf8");
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^https?:/.test(target as string)) continue;
        const [file, anchor] = (target as string).split("#") as [string, string | undefined];
        const resolved = file === "" ? page : join(page.includes("/") ? "docs" : "", file);
        expect(existsSync(join(ROOT, resolved)), `${page} links ${target}`).toBe(true);
        if (anchor && resolved.endsWith(".md")) expect(anchors(resolved).has(anchor), `${page} links ${target}`).toBe(true);
      }
    }
    const docs = PAGES.filter((p) => p.startsWith("docs/")).map((p) => p.slice("docs/".length, -".md".length));
    expect(guides.map((g) => g.page).sort()).toEqual(docs.sort());
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    for (const page of docs) expect(readme).toContain(`](docs/${page}.md)`);
  });
});

const service = localServiceForFile();
const made: string[] = [];

beforeAll(async () => {
  // What the snippets act on, as a user would have it by then: a system with rewarded decisions, a policy file.
  const client = createClient({ baseUrl: service().url, apiKey: service().key });
  await client.configureSystem("context_enrichment", {
    default_arms: [
      { arm_id: "precise", params: { threshold: 0.45, limit: 5 } },
      { arm_id: "broad", params: { threshold: 0.2, limit: 15 } },
    ],
  });
  for (const [userId, agentType] of [
    ["user_123", undefined],
    ["user_456", "support"],
  ] as const) {
    for (let i = 0; i < 6; i++) {
      const selection = await client.select("context_enrichment", { userId, ...(agentType ? { agentType } : {}) });
      await client.update("context_enrichment", { userId, decisionId: selection.decision_id as string, reward: i % 2 });
    }
  }
  writeFileSync(join(ROOT, "policy.yaml"), "type: greedy\n");
  made.push(join(ROOT, "policy.yaml"), join(ROOT, "log.ndjson"), "/tmp/convergence-dry-run");
}, 120_000);

afterAll(() => {
  for (const path of made) rmSync(path, { recursive: true, force: true });
});

const bash = (code: string) =>
  runProcess("bash", ["-e", "-o", "pipefail", "-c", code], {
    cwd: ROOT,
    env: { ...process.env, CONVERGENCE_URL: service().url, CONVERGENCE_API_KEY: service().key },
    timeoutMs: 300_000,
  });

describe("the documentation's shell snippets, run against npm start", () => {
  it.each(RUNNABLE.map((s) => [`${s.page}:${s.line}`, s] as const))(
    "%s",
    async (_where, snippet) => {
      // The pages name the default local service; this one has a port of its own.
      const ran = await bash(snippet.code.replaceAll("http://127.0.0.1:8787", service().url));
      expect(ran.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(`${ran.stdout}${ran.stderr}`).not.toMatch(/"error":\s*\{/);
      expect(ran.code, ran.stderr).toBe(0);
      if (snippet.code.includes("npm run demo")) {
        // The demo's links open in a browser: the dashboard's pages, not the API's (which need a key).
        expect(ran.stdout).toContain(`the run:    ${service().url}/#/runs/quickstart_`);
        expect(ran.stdout).toContain(`the system: ${service().url}/#/systems/quickstart_demo`);
      }
    },
    300_000,
  );

  it("serves the guides under /guide/, each linked from /docs", async () => {
    const docs = await (await fetch(`${service().url}/docs`)).text();
    for (const { page } of guides) {
      expect(docs).toContain(`href="/guide/${page}.html"`);
      const served = await fetch(`${service().url}/guide/${page}.html`);
      expect(served.status).toBe(200);
      expect(served.headers.get("content-type")).toContain("text/html");
      const title = readFileSync(join(ROOT, `docs/${page}.md`), "utf8").match(/^# (.+)$/m)?.[1] as string;
      expect(await served.text()).toContain(`<h1 id="${slug(title.replace(/`/g, ""))}">`);
    }
    const index = await (await fetch(`${service().url}/guide/`)).text();
    for (const { page } of guides) expect(index).toContain(`href="${page}.html"`);
  });
});

describe("the key line of the HTTP API page", () => {
  it("reads the dev key from a .dev.vars made from .dev.vars.example as one line, the key itself", async () => {
    const page = readFileSync(join(ROOT, "docs/http-api.md"), "utf8");
    const line = page.split("\n").find((l) => l.startsWith("KEY=$(")) as string;
    expect(line).toBeDefined();
    // .dev.vars.example's comment lines name CONVERGENCE_API_KEY too: the line must not pick them up.
    const dir = tempDir("readme-key");
    copyFileSync(join(ROOT, ".dev.vars.example"), join(dir, ".dev.vars"));
    const read = await runProcess("bash", ["-c", `${line}\nprintf '%s' "$KEY"`], { cwd: dir });
    expect(read).toMatchObject({ code: 0, stdout: "dev-local-key" });
  });
});
