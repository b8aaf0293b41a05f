/**
 * `convergence init` as a user runs it (bin/convergence.js): each form writes a config that `convergence
 * validate` accepts with the key's variable set, whose template and parameters follow the sample request; bad
 * input is refused with a message and exit 2, and a key written out never reaches the file or the output. The
 * curl tokenizer and the config builder are tested on their own below.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { parseCurl, shellWords } from "../../src/config/curl.js";
import { buildInitConfig, headersOf, InitError } from "../../src/config/init-config.js";
import { prepareRun } from "../../src/run/prepare.js";
import { runProcess } from "../helpers/process.js";
import { startProvider } from "../helpers/provider.js";
import { tempDir } from "../helpers/temp.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin/convergence.js");
const KEY = "sk-test-init-not-a-real-key";
const { OPENAI_API_KEY: _inherited, ...WITHOUT_KEY } = process.env;
const WITH_KEY = { ...WITHOUT_KEY, OPENAI_API_KEY: KEY };

function cli(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; input?: string }) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: options.env ?? WITH_KEY,
    encoding: "utf8",
    timeout: 60_000,
    ...(options.input !== undefined ? { input: options.input } : { stdio: ["ignore", "pipe", "pipe"] }),
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const MESSAGES = [
  { role: "system", content: "You are a concise assistant." },
  { role: "user", content: "What's the capital of France?" },
];
const SAMPLE = { model: "gpt-4o-mini", messages: MESSAGES, temperature: 0.7, max_tokens: 256 };

/** As the OpenAI docs write it: continued lines, a double-quoted header naming the key, a single-quoted body. */
const OPENAI_CURL = `curl https://api.openai.com/v1/chat/completions \\
  -H "Content-Type: application/json" \\
  -H "Authorization: Bearer $OPENAI_API_KEY" \\
  -d '{
    "model": "gpt-4o-mini",
    "messages": [
      {"role": "system", "content": "You are a concise assistant."},
      {"role": "user", "content": "What'"'"'s the capital of France?"}
    ],
    "temperature": 0.7,
    "max_tokens": 256
  }'`;

const readYaml = (path: string) => parse(readFileSync(path, "utf8"));

/** `init --yes` with OpenAI's endpoint, the key's variable (as typed: `$OPENAI_API_KEY` too), this body and `extra`. */
const yes = (body: string, extra: string[] = [], tokenEnv = "OPENAI_API_KEY") => [
  "init",
  "--yes",
  "--endpoint",
  "https://api.openai.com/v1/chat/completions",
  "--token-env",
  tokenEnv,
  "--body",
  body,
  ...extra,
];

/** What every form writes for the OpenAI sample with model, temperature and max_tokens tuned. */
function expectOpenAiConfig(config: ReturnType<typeof readYaml>, name: string): void {
  expect(config.api).toEqual({
    name,
    endpoint: "https://api.openai.com/v1/chat/completions",
    auth: { type: "bearer", token_env: "OPENAI_API_KEY" },
    request: {
      method: "POST",
      body_template: {
        model: "{{params.model}}",
        messages: "{{input.messages}}",
        temperature: "{{params.temperature}}",
        max_tokens: "{{params.max_tokens}}",
      },
    },
  });
  expect(config.search_space.parameters).toEqual({
    model: { type: "categorical", values: ["gpt-4o-mini"] },
    temperature: { type: "float", min: 0, max: 1.5, step: 0.05 },
    max_tokens: { type: "discrete", values: [64, 128, 256, 512, 1024] },
  });
  expect(config.evaluation.test_cases.inline).toEqual([{ id: "example", input: { messages: MESSAGES }, expected: {} }]);
  expect(Object.keys(config.evaluation.metrics).length).toBeGreaterThan(0);
}

function expectValid(path: string, cwd: string): void {
  const validated = cli(["validate", path], { cwd });
  expect(validated.stdout, validated.stderr).toMatch(/: valid config \(3 parameters, 1 test case, 2 metrics, auto\)/);
  expect(validated.code).toBe(0);
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at |internal error/);

describe("convergence init --from-curl", () => {
  it("turns OpenAI's chat-completions curl into a config validate accepts: bearer auth from $OPENAI_API_KEY, the tuned fields as placeholders", () => {
    const dir = tempDir("init-curl");
    const run = cli(["init", "--from-curl", OPENAI_CURL], { cwd: dir });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    // What validate prints, printed by init on the file it wrote.
    expect(run.stdout).toMatch(/^wrote convergence\.yaml: 3 to tune \(model, temperature, max_tokens\); each test case gives messages\n/);
    expect(run.stdout).toContain("convergence.yaml: valid config (3 parameters, 1 test case, 2 metrics, auto)");
    expect(run.stdout).not.toContain("is not set");
    const text = readFileSync(join(dir, "convergence.yaml"), "utf8");
    expect(text).not.toMatch(/TODO/i);
    // The content-type curl sends is what every JSON call sends: not copied into request.headers.
    expectOpenAiConfig(parse(text), "openai");
    expectValid("convergence.yaml", dir);
  });

  it("writes the config without the key's variable, says it is not set, and validate passes once it is", () => {
    const dir = tempDir("init-unset");
    const run = cli(["init", "--from-curl", OPENAI_CURL, "--output", "chat.yaml"], { cwd: dir, env: WITHOUT_KEY });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("error:   api.auth: environment variable OPENAI_API_KEY is not set");
    expect(run.stdout).toContain("OPENAI_API_KEY is not set in this shell");
    expect(cli(["validate", "chat.yaml"], { cwd: dir, env: WITHOUT_KEY }).code).toBe(2);
    expectValid("chat.yaml", dir);
  });

  it("reads Anthropic's x-api-key header as api_key auth and keeps its version header", () => {
    const dir = tempDir("init-anthropic");
    const curl = `curl https://api.anthropic.com/v1/messages --header "x-api-key: $ANTHROPIC_API_KEY" --header "anthropic-version: 2023-06-01" --header "content-type: application/json" --data '{"model": "claude-3-5-haiku-latest", "max_tokens": 1024, "system": "Answer in one sentence.", "messages": [{"role": "user", "content": "Hello"}]}'`;
    const run = cli(["init", "--from-curl", curl, "--tune", "model,max_tokens,system"], {
      cwd: dir,
      env: { ...WITHOUT_KEY, ANTHROPIC_API_KEY: "test-value" },
    });
    expect(run.code, run.stderr).toBe(0);
    const config = readYaml(join(dir, "convergence.yaml"));
    expect(config.api.auth).toEqual({ type: "api_key", header_name: "x-api-key", token_env: "ANTHROPIC_API_KEY" });
    expect(config.api.request.headers).toEqual({ "anthropic-version": "2023-06-01" });
    expect(config.api.request.body_template).toEqual({
      model: "{{params.model}}",
      max_tokens: "{{params.max_tokens}}",
      system: "{{params.system}}",
      messages: "{{input.messages}}",
    });
    // A sentence is text the society may rewrite; a model name is chosen among.
    expect(config.search_space.parameters.system).toEqual({ type: "text", values: ["Answer in one sentence."] });
    expect(config.search_space.parameters.max_tokens).toEqual({ type: "discrete", values: [256, 512, 1024, 2048, 4096] });
    expect(run.stdout).toContain("convergence.yaml: valid config (3 parameters");
  });

  it("makes calls a chat-completions API answers: the template filled with each config's values and the case's messages", async () => {
    const provider = await startProvider({ key: KEY });
    try {
      const dir = tempDir("init-e2e");
      const curl = OPENAI_CURL.replace("https://api.openai.com", provider.url);
      const env = WITH_KEY;
      const made = await runProcess(process.execPath, [BIN, "init", "--from-curl", curl], { cwd: dir, env });
      expect(made.code, made.stdout + made.stderr).toBe(0);
      const config = readYaml(join(dir, "convergence.yaml"));
      // A short run is enough to see the requests.
      config.optimization.execution.max_target_calls = 6;
      config.optimization.seed = 1;
      writeFileSync(join(dir, "convergence.yaml"), stringify(config));
      const run = await runProcess(process.execPath, [BIN, "optimize", "convergence.yaml", "--json", "--quiet"], { cwd: dir, env });
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ success: true, failed_calls: 0 });
      const calls = provider.requests.filter((r) => r.path === "/v1/chat/completions");
      expect(calls.length).toBeGreaterThan(0);
      for (const call of calls) {
        expect(call.headers.authorization).toBe(`Bearer ${KEY}`);
        const body = JSON.parse(call.body);
        expect(Object.keys(body).sort()).toEqual(["max_tokens", "messages", "model", "temperature"]);
        expect(body.model).toBe("gpt-4o-mini");
        expect(body.messages).toEqual(MESSAGES);
        expect(typeof body.temperature).toBe("number");
        expect(body.temperature).toBeGreaterThanOrEqual(0);
        expect(body.temperature).toBeLessThanOrEqual(1.5);
        expect([64, 128, 256, 512, 1024]).toContain(body.max_tokens);
      }
    } finally {
      await provider.close();
    }
  });

  it("a curl command on stdin (--from-curl -), quoted by a heredoc so the variable's name arrives", () => {
    const dir = tempDir("init-stdin");
    const run = cli(["init", "--from-curl", "-"], { cwd: dir, input: OPENAI_CURL });
    expect(run.code, run.stderr).toBe(0);
    expectOpenAiConfig(readYaml(join(dir, "convergence.yaml")), "openai");
  });
});

describe("convergence init --yes", () => {
  it("writes the same config from flags, without a terminal", () => {
    const dir = tempDir("init-yes");
    const run = cli(
      yes(JSON.stringify(SAMPLE), [
        "--method",
        "POST",
        "--tune",
        "model,temperature,max_tokens",
        "--name",
        "support-bot",
        "--output",
        "bot.yaml",
      ]),
      { cwd: dir },
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expectOpenAiConfig(readYaml(join(dir, "bot.yaml")), "support-bot");
    expectValid("bot.yaml", dir);
  });

  it("tunes nested fields by dotted path: a Gemini body with its system text and generation settings", () => {
    const dir = tempDir("init-nested");
    const body = {
      systemInstruction: { parts: [{ text: "You are a careful travel agent. Answer briefly." }] },
      contents: [{ role: "user", parts: [{ text: "Plan a day in Kyoto." }] }],
      generationConfig: { temperature: 1, topP: 0.95, maxOutputTokens: 512 },
    };
    const run = cli(
      [
        "init",
        "--yes",
        "--endpoint",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent",
        "--auth",
        "api_key",
        "--auth-header",
        "x-goog-api-key",
        "--token-env",
        "GEMINI_API_KEY",
        "--body",
        JSON.stringify(body),
        "--tune",
        "generationConfig.temperature,generationConfig.topP,generationConfig.maxOutputTokens,systemInstruction.parts[0].text",
      ],
      { cwd: dir, env: { ...WITHOUT_KEY, GEMINI_API_KEY: "test-value" } },
    );
    expect(run.code, run.stderr).toBe(0);
    const config = readYaml(join(dir, "convergence.yaml"));
    expect(config.api.name).toBe("googleapis");
    expect(config.api.auth).toEqual({ type: "api_key", header_name: "x-goog-api-key", token_env: "GEMINI_API_KEY" });
    expect(config.api.request.body_template).toEqual({
      systemInstruction: { parts: [{ text: "{{params.systemInstruction_text}}" }] },
      contents: "{{input.contents}}",
      generationConfig: { temperature: "{{params.temperature}}", topP: "{{params.topP}}", maxOutputTokens: "{{params.maxOutputTokens}}" },
    });
    expect(config.search_space.parameters).toEqual({
      // A temperature of 1 is written as an integer in JSON and is still a fraction to tune.
      temperature: { type: "float", min: 0, max: 1.5, step: 0.05 },
      topP: { type: "float", min: 0.5, max: 1, step: 0.05 },
      maxOutputTokens: { type: "discrete", values: [128, 256, 512, 1024, 2048] },
      systemInstruction_text: { type: "text", values: ["You are a careful travel agent. Answer briefly."] },
    });
    expect(config.evaluation.test_cases.inline[0].input).toEqual({ contents: body.contents });
    expect(run.stdout).toContain("convergence.yaml: valid config (4 parameters, 1 test case, 2 metrics, auto)");
  });

  it("names a tuned system prompt by its role, and takes each case's user message through {{input.user_message}}", () => {
    const dir = tempDir("init-system");
    const run = cli(yes(JSON.stringify(SAMPLE), ["--tune", "messages.0.content,temperature"], "$OPENAI_API_KEY"), { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    const config = readYaml(join(dir, "convergence.yaml"));
    expect(config.api.auth.token_env).toBe("OPENAI_API_KEY");
    expect(config.api.request.body_template.messages).toEqual([
      { role: "system", content: "{{params.system_prompt}}" },
      { role: "user", content: "{{input.user_message}}" },
    ]);
    expect(config.search_space.parameters.system_prompt).toEqual({ type: "text", values: ["You are a concise assistant."] });
    expect(config.evaluation.test_cases.inline[0].input).toEqual({ user_message: "What's the capital of France?" });
    expect(run.stdout).toContain("valid config (2 parameters");
  });
});

/** Answers written one at a time, each when its question has been asked (a prompt ends with ": " or "... "). */
function answerPrompts(args: string[], answers: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: WITH_KEY, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let next = 0;
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
    if (!/(: |\.\.\. )$/.test(stderr)) return;
    if (next < answers.length) child.stdin.write(`${answers[next++]}\n`);
    else child.stdin.end();
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("convergence init, answering questions", () => {
  it("asks with defaults in brackets, reads a body over several lines, and writes a config validate accepts", async () => {
    const dir = tempDir("init-ask");
    const run = await answerPrompts(
      ["init"],
      [
        "https://api.openai.com/v1/chat/completions",
        "", // bearer
        "", // OPENAI_API_KEY
        "", // POST
        "{",
        `  "model": "gpt-4o-mini", "messages": ${JSON.stringify(MESSAGES)},`,
        '  "temperature": 0.7, "max_tokens": 256 }',
        "", // the knobs the body has
        "chat",
        "", // convergence.yaml
      ],
      dir,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain("How it takes a key: bearer, api_key or none [bearer]: ");
    expect(run.stderr).toContain("Environment variable that holds the key [OPENAI_API_KEY]: ");
    expect(run.stderr).toContain("HTTP method [POST]: ");
    expect(run.stderr).toContain("Fields to tune (dotted paths, comma-separated) [model,temperature,max_tokens]: ");
    expect(run.stderr).toContain("Write it to [convergence.yaml]: ");
    expectOpenAiConfig(readYaml(join(dir, "convergence.yaml")), "chat");
    expect(run.stdout).toContain("convergence.yaml: valid config (3 parameters");
    expectValid("convergence.yaml", dir);
  });

  it("reads answers piped all at once, as a script would send them", () => {
    const dir = tempDir("init-piped");
    const input = [
      "https://api.openai.com/v1/chat/completions",
      "bearer",
      "OPENAI_API_KEY",
      "POST",
      JSON.stringify(SAMPLE),
      "",
      "",
      "piped.yaml",
    ]
      .map((line) => `${line}\n`)
      .join("");
    const run = cli(["init"], { cwd: dir, input });
    expect(run.code, run.stderr).toBe(0);
    expectOpenAiConfig(readYaml(join(dir, "piped.yaml")), "openai");
  });

  it("stops with exit 2 when a piped answer is bad or the input ends, instead of asking again", () => {
    const dir = tempDir("init-ask-bad");
    const bad = cli(["init"], { cwd: dir, input: "ftp://example.com/x\n" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("convergence init: the endpoint must be an http(s) URL, not ftp:");
    const ended = cli(["init"], { cwd: dir, input: "" });
    expect(ended.code).toBe(2);
    expect(ended.stderr).toContain("the input ended before 'Endpoint URL' was answered");
    const unknown = cli(["init"], {
      cwd: dir,
      input: `https://api.openai.com/v1/chat/completions\n\n\n\n${JSON.stringify(SAMPLE)}\ntemprature\n`,
    });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      "cannot tune 'temprature': the sample body has no temprature (its fields: model, messages, temperature, max_tokens)",
    );
    for (const run of [bad, ended, unknown]) noStackTrace(run.stderr);
    expect(existsSync(join(dir, "convergence.yaml"))).toBe(false);
  });
});

describe("convergence init refuses", () => {
  it.each([
    ["a bearer token", `-H "Authorization: Bearer sk-live-4f9a8b7c6d5e"`, "the Authorization header holds a key written out"],
    ["an x-api-key value", `-H 'x-api-key: sk-live-4f9a8b7c6d5e'`, "the x-api-key header holds a key written out"],
    ["a key in the URL", "", "the endpoint's ?key= holds a key written out"],
  ])("a curl command with %s written out: exit 2, nothing written, the key not repeated", (_what, header, message) => {
    const dir = tempDir("init-secret");
    const url =
      header === ""
        ? "'https://api.openai.com/v1/chat/completions?key=sk-live-4f9a8b7c6d5e'"
        : "https://api.openai.com/v1/chat/completions";
    const body = JSON.stringify({ model: "gpt-4o-mini", temperature: 0.7 });
    const run = cli(["init", "--from-curl", `curl ${url} ${header} -d '${body}'`], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain("never writes a key into a file");
    expect(run.stderr).toMatch(/\$OPENAI_API_KEY/);
    expect(run.stdout + run.stderr).not.toContain("sk-live-4f9a8b7c6d5e");
    expect(existsSync(join(dir, "convergence.yaml"))).toBe(false);
  });

  it("a key the shell put in place of $OPENAI_API_KEY, or nothing where it was not set: saying why, not repeating it", () => {
    const dir = tempDir("init-expanded");
    const body = JSON.stringify({ model: "gpt-4o-mini", temperature: 0.7 });
    // What bash makes of --from-curl "curl ... -H 'Authorization: Bearer $OPENAI_API_KEY' ...": the value, or nothing.
    const expanded = cli(
      ["init", "--from-curl", `curl https://api.openai.com/v1/chat/completions -H 'Authorization: Bearer ${KEY}' -d '${body}'`],
      {
        cwd: dir,
      },
    );
    expect(expanded.code).toBe(2);
    expect(expanded.stderr).toContain(
      "the Authorization header holds the value of $OPENAI_API_KEY, which the shell put there before init saw it",
    );
    expect(expanded.stderr).toContain("--from-curl - <<'EOF'");
    expect(expanded.stdout + expanded.stderr).not.toContain(KEY);
    const empty = cli(["init", "--from-curl", `curl https://api.openai.com/v1/chat/completions -H 'Authorization: Bearer ' -d '${body}'`], {
      cwd: dir,
      env: WITHOUT_KEY,
    });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("the Authorization header has no key");
    expect(existsSync(join(dir, "convergence.yaml"))).toBe(false);
  });

  it.each([
    ["a body that is not JSON", yes('{"model": "gpt-4o-mini",'), "the sample body is not JSON"],
    ["a body that is not an object", yes("[1, 2]"), "the sample body must be a JSON object"],
    [
      "a --tune path not in the body",
      yes(JSON.stringify(SAMPLE), ["--tune", "temperature,settings.top_p"]),
      "cannot tune 'settings.top_p': the sample body has no settings (its fields: model, messages, temperature, max_tokens)",
    ],
    ["a --tune index past the list", yes(JSON.stringify(SAMPLE), ["--tune", "messages[5].content"]), "messages has no [5] (a list of 2)"],
    ["no endpoint", ["init", "--yes", "--body", "{}"], "missing --endpoint URL"],
    ["no body", ["init", "--yes", "--endpoint", "https://api.openai.com/v1/chat/completions"], "missing --body JSON"],
    [
      "a key instead of a variable's name",
      ["init", "--yes", "--endpoint", "https://x.dev/v1", "--token-env", "sk-live-4f9a8b7c6d5e", "--body", "{}"],
      "--token-env is not the name of an environment variable",
    ],
    [
      "a curl command it cannot parse",
      ["init", "--from-curl", `curl https://x.dev -d '{"a": 1}`],
      "the curl command has a ' quote that is never closed",
    ],
    ["something that is not curl", ["init", "--from-curl", "wget https://x.dev"], "expected a curl command"],
    [
      "a curl option it does not know",
      ["init", "--from-curl", "curl --upload-file x https://x.dev"],
      "curl option --upload-file is not one init understands",
    ],
    ["a curl command without a body", ["init", "--from-curl", "curl https://x.dev/v1"], "the curl command sends no body"],
    ["an unknown flag", ["init", "--yes", "--temperature", "1"], "Unknown option '--temperature'"],
  ])("%s: exit 2 with a message", (_what, args, message) => {
    const dir = tempDir("init-bad");
    const run = cli(args, { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout + run.stderr).not.toContain("sk-live-4f9a8b7c6d5e");
    noStackTrace(run.stderr);
    expect(existsSync(join(dir, "convergence.yaml"))).toBe(false);
  });

  it("a folder that does not exist, and a number JSON reads as infinite", () => {
    const dir = tempDir("init-folder");
    const missing = cli(yes(JSON.stringify(SAMPLE), ["--output", "no/such/dir.yaml"]), { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot write no/such/dir.yaml: its folder does not exist");
    const infinite = cli(yes('{"temperature": 1e400}'), { cwd: dir });
    expect(infinite.code).toBe(2);
    expect(infinite.stderr).toContain("cannot tune 'temperature': Infinity is not a finite number");
  });

  it("to replace an existing file, unless --force", () => {
    const dir = tempDir("init-exists");
    writeFileSync(join(dir, "convergence.yaml"), "# mine\n");
    const args = yes(JSON.stringify(SAMPLE));
    const refused = cli(args, { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("convergence.yaml already exists: choose another --output, or add --force to replace it");
    expect(readFileSync(join(dir, "convergence.yaml"), "utf8")).toBe("# mine\n");
    const forced = cli([...args, "--force"], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
    expectOpenAiConfig(readYaml(join(dir, "convergence.yaml")), "openai");
  });
});

describe("convergence init --help", () => {
  it("is listed by convergence --help and explains its three forms", () => {
    const dir = tempDir("init-help");
    expect(cli(["--help"], { cwd: dir }).stdout).toMatch(/^ {2}convergence init \[--from-curl CMD/m);
    const help = cli(["init", "--help"], { cwd: dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("convergence init --from-curl");
    expect(help.stdout).toContain("convergence init --yes --endpoint URL --body JSON");
    expect(existsSync(join(dir, "convergence.yaml"))).toBe(false);
  });
});

describe("the curl tokenizer", () => {
  it("quotes as bash does: '...' literally, \"...\" with \\ escaping only $ ` \" \\, $'...' with C escapes", () => {
    expect(shellWords(`curl 'a b' "c d" e\\ f`)).toEqual(["curl", "a b", "c d", "e f"]);
    expect(shellWords(`'it'"'"'s' "say \\"hi\\" \\$HOME \\n" a\\'b`)).toEqual(["it's", 'say "hi" $HOME \\n', "a'b"]);
    expect(shellWords(`$'line\\none\\ttab \\'q\\' \\x41\\u00e9' '$NOT_EXPANDED' "$NOR_THIS"`)).toEqual([
      "line\none\ttab 'q' Aé",
      "$NOT_EXPANDED",
      "$NOR_THIS",
    ]);
    // A backslash-newline continues the line (LF or CRLF); a newline inside quotes is kept.
    expect(shellWords("curl \\\n  -X POST \\\r\n  'a\nb'")).toEqual(["curl", "-X", "POST", "a\nb"]);
    expect(shellWords(`  ''  ""  `)).toEqual(["", ""]);
  });

  it("refuses what it cannot read as one command", () => {
    expect(() => shellWords(`curl 'open`)).toThrow(/' quote that is never closed/);
    expect(() => shellWords(`curl "open`)).toThrow(/" quote that is never closed/);
    expect(() => shellWords(`curl $'open`)).toThrow(/\$'...' quote that is never closed/);
    expect(() => shellWords("curl x \\")).toThrow(/lone backslash/);
    expect(() => shellWords("curl x | jq .")).toThrow(/shell operator \(\|\)/);
    expect(() => shellWords("curl x; rm -rf y")).toThrow(InitError);
  });

  it("reads a curl command's method, URL, headers and body", () => {
    expect(parseCurl(`curl -sS -XPUT https://x.dev/v1 -H'A: b' --header "C:  d " --data-raw '{"a":1}'`)).toEqual({
      url: "https://x.dev/v1",
      method: "PUT",
      headers: [
        ["A", "b"],
        ["C", "d"],
      ],
      body: '{"a":1}',
      bodyFile: null,
    });
    // A body means POST; --json adds its two headers; -d @FILE is read from a file; --data-raw keeps an @.
    expect(parseCurl(`curl --json '{"a":1}' --url https://x.dev`)).toMatchObject({
      method: "POST",
      url: "https://x.dev",
      headers: [
        ["Content-Type", "application/json"],
        ["Accept", "application/json"],
      ],
    });
    expect(parseCurl("curl https://x.dev -d @body.json")).toMatchObject({ method: "POST", body: null, bodyFile: "body.json" });
    expect(parseCurl("curl https://x.dev --data-raw @handle")).toMatchObject({ body: "@handle", bodyFile: null });
    expect(parseCurl("curl -L -o out.json --max-time 30 https://x.dev")).toMatchObject({ method: "GET", body: null });
    expect(() => parseCurl("curl https://a.dev https://b.dev")).toThrow(/two URLs/);
    expect(() => parseCurl("curl -u me:pw https://a.dev -d '{}'")).toThrow(/basic auth/);
    expect(() => parseCurl("curl -d '{}'")).toThrow(/names no URL/);
    expect(() => parseCurl("curl https://a.dev -d '{}' -d '{}'")).toThrow(/more than once/);
  });
});

describe("the config init builds", () => {
  const answers = {
    name: "chat",
    endpoint: "https://api.openai.com/v1/chat/completions",
    method: "POST",
    auth: { type: "bearer" as const, tokenEnv: "OPENAI_API_KEY" },
    headers: {},
    body: SAMPLE,
    tune: ["model", "temperature", "max_tokens"],
    output: "convergence.yaml",
  };

  it("is a config prepareRun starts with the key set, for every shape of tuned value", async () => {
    const body = { ...SAMPLE, top_k: 5, seed: 0, stream: false, stop: ["\n\n"], bias: -0.5, threshold: 2.5, effort: "low" };
    const built = buildInitConfig({ ...answers, body, tune: Object.keys(body).filter((k) => k !== "messages") });
    const prepared = await prepareRun(parse(built.yaml), { env: { OPENAI_API_KEY: KEY } });
    expect(prepared.ok ? [] : prepared.errors).toEqual([]);
    expect(parse(built.yaml).search_space.parameters).toMatchObject({
      top_k: { type: "int", min: 1, max: 10, step: 1 },
      seed: { type: "int", min: 0, max: 10 },
      stream: { type: "categorical", values: [false, true] },
      stop: { type: "categorical", values: [["\n\n"]] },
      bias: { type: "float", min: -1, max: 1, step: 0.1 },
      threshold: { type: "float", min: 1.2, max: 5, step: 0.2 },
      effort: { type: "categorical", values: ["low"] },
    });
  });

  it("sends a GET's body as the test case's query fields, with the tuned ones as parameters of the same name", async () => {
    const built = buildInitConfig({
      ...answers,
      method: "GET",
      body: { q: "kyoto temples", limit: 20, min_score: 0.4 },
      tune: ["limit", "min_score"],
    });
    const config = parse(built.yaml);
    expect(config.api.request).toEqual({ method: "GET" });
    expect(config.evaluation.test_cases.inline[0].input).toEqual({ q: "kyoto temples" });
    expect(Object.keys(config.search_space.parameters)).toEqual(["limit", "min_score"]);
    expect((await prepareRun(config, { env: { OPENAI_API_KEY: KEY } })).ok).toBe(true);
    expect(() => buildInitConfig({ ...answers, method: "GET", body: { a: { b: 1 } }, tune: ["a.b"] })).toThrow(/top-level fields/);
  });

  it("refuses fields it cannot tune: overlapping paths, null values", () => {
    expect(() => buildInitConfig({ ...answers, tune: ["messages", "messages[0].content"] })).toThrow(/overlap/);
    expect(() => buildInitConfig({ ...answers, body: { ...SAMPLE, user: null }, tune: ["user"] })).toThrow(/it is null in the sample body/);
    expect(() => buildInitConfig({ ...answers, tune: [] })).toThrow(/at least one field/);
  });

  it("takes the key from the header that names a variable, drops what every JSON call sends, keeps the rest", () => {
    expect(
      headersOf(
        [
          ["Content-Type", "application/json"],
          ["Authorization", `Bearer \${OPENAI_API_KEY}`],
          ["OpenAI-Beta", "assistants=v2"],
        ],
        answers.endpoint,
      ),
    ).toEqual({ auth: { type: "bearer", tokenEnv: "OPENAI_API_KEY" }, headers: { "OpenAI-Beta": "assistants=v2" } });
    expect(headersOf([["api-key", "$AZURE_OPENAI_API_KEY"]], "https://team.openai.azure.com/x").auth).toEqual({
      type: "api_key",
      tokenEnv: "AZURE_OPENAI_API_KEY",
      header: "api-key",
    });
    expect(() =>
      headersOf(
        [
          ["Authorization", "Bearer $A"],
          ["x-api-key", "$B"],
        ],
        answers.endpoint,
      ),
    ).toThrow(/both Authorization and x-api-key carry a key/);
    expect(() => headersOf([["OpenAI-Organization", "$ORG_ID"]], answers.endpoint)).toThrow(
      /only the key \(api\.auth\) is read from the environment/,
    );
  });
});
