/**
 * `convergence init`: write a starting config for the user's API, then check it as `validate` does. Three forms:
 * questions (on a terminal, or one answer a line on stdin), --from-curl with a pasted curl command, and --yes
 * with flags. The answers become a config in src/config/init-config.ts; this file asks, reads and writes.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createInterface, type Interface } from "node:readline";
import { parseArgs } from "node:util";
import { parseCurl } from "../../config/curl.js";
import {
  buildInitConfig,
  checkTunes,
  defaultName,
  defaultTokenEnv,
  endpointOf,
  envVarName,
  headersOf,
  type InitAnswers,
  type InitAuth,
  InitError,
  methodOf,
  parseSampleBody,
  suggestedTunes,
} from "../../config/init-config.js";
import type { JsonValue } from "../../json.js";
import type { Io } from "./io.js";
import { checkConfigFile, printValidation } from "./validate.js";

const INIT_USAGE = `convergence init: write a starting config for your API, and validate it
  convergence init                       answer a few questions (defaults in brackets)
  convergence init --from-curl "curl https://... -H 'Authorization: Bearer $KEY' -d '{...}'" [--tune a,b]
  convergence init --yes --endpoint URL --body JSON [--tune a,b.c] [--token-env NAME]
                   [--auth bearer|api_key|none] [--auth-header NAME] [--method POST]
Also: --name NAME (api.name), --output FILE (default convergence.yaml), --force to replace FILE.
--tune names fields of the body by dotted path (temperature, generationConfig.topP, messages[0].content);
without it, the usual knobs the body has (model, temperature, top_p, max_tokens, ...). --body and curl's -d
take @FILE; --from-curl - reads the command from stdin. A key written out in a header or the URL is refused:
name the environment variable that holds it ($OPENAI_API_KEY), which is read when a run calls.
`;

const DEFAULT_OUTPUT = "convergence.yaml";
const AUTH_TYPES = ["bearer", "api_key", "none"] as const;
/** A header name as HTTP allows it (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

interface Flags {
  "from-curl"?: string | undefined;
  yes: boolean;
  endpoint?: string | undefined;
  "token-env"?: string | undefined;
  auth?: string | undefined;
  "auth-header"?: string | undefined;
  method?: string | undefined;
  body?: string | undefined;
  tune?: string | undefined;
  name?: string | undefined;
  output?: string | undefined;
  force: boolean;
}

function readBody(text: string): Record<string, JsonValue> {
  if (!text.startsWith("@")) return parseSampleBody(text);
  const file = text.slice(1);
  let content: string;
  try {
    content = readFileSync(file, "utf8");
  } catch (error) {
    throw new InitError(`cannot read the sample body from ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseSampleBody(content);
}

const splitList = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

function authType(text: string): (typeof AUTH_TYPES)[number] {
  const type = text.trim().toLowerCase().replace("-", "_");
  if (!(AUTH_TYPES as readonly string[]).includes(type)) throw new InitError(`auth must be one of ${AUTH_TYPES.join(", ")}, not '${text}'`);
  return type as (typeof AUTH_TYPES)[number];
}

function headerName(text: string): string {
  if (!HEADER_NAME.test(text.trim())) throw new InitError(`'${text}' is not a header name (like x-api-key)`);
  return text.trim();
}

const alreadyExists = (path: string) => new InitError(`${path} already exists: choose another --output, or add --force to replace it`);

function outputFree(path: string, force: boolean): string {
  if (!force && existsSync(path)) throw alreadyExists(path);
  return path;
}

/** Brackets opened and not yet closed in JSON text (strings skipped): a body pasted over several lines goes on. */
function openBrackets(text: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") depth--;
  }
  return depth;
}

/** Ctrl-C at a question: the command stops there, with the exit code of an interrupted command (130). */
class Interrupted extends Error {}

/**
 * Questions, one answer a line. Lines are read from readline's iterator, which keeps the lines that arrive
 * before their question is asked: piped answers are not lost, as they are with rl.question.
 */
class Prompter {
  private readonly rl: Interface;
  private readonly lines: AsyncIterator<string>;
  private readonly tty: boolean;
  private interrupted = false;

  constructor(
    input: NodeJS.ReadStream,
    private readonly out: NodeJS.WriteStream,
  ) {
    this.tty = input.isTTY === true;
    this.rl = createInterface({ input, output: out, terminal: this.tty });
    this.lines = this.rl[Symbol.asyncIterator]();
    this.rl.on("SIGINT", () => {
      this.interrupted = true;
      this.rl.close();
    });
  }

  private async line(prompt: string): Promise<string | null> {
    this.rl.setPrompt(prompt);
    this.rl.prompt();
    const next = await this.lines.next();
    if (next.done) this.out.write("\n");
    if (this.interrupted) throw new Interrupted();
    return next.done ? null : next.value;
  }

  /** On a terminal a bad answer is asked again; from a pipe it ends the command, as a bad flag would. */
  private retry(error: unknown, ended: boolean): void {
    if (!(error instanceof InitError) || !this.tty || ended) throw error;
    this.out.write(`  ${error.message}\n`);
  }

  async ask<T>(question: string, fallback: string | undefined, check: (answer: string) => T): Promise<T> {
    for (;;) {
      const line = await this.line(`${question}${fallback ? ` [${fallback}]` : ""}: `);
      const answer = line === null || line.trim() === "" ? fallback : line.trim();
      try {
        if (!answer) {
          throw new InitError(
            line === null
              ? `the input ended before '${question}' was answered: answer each question on its line, or use --yes with flags (convergence init --help)`
              : `'${question}' needs an answer`,
          );
        }
        return check(answer);
      } catch (error) {
        this.retry(error, line === null);
      }
    }
  }

  /** The sample body: one line of JSON, JSON over several lines (until its brackets close), or @FILE. */
  async askBody(question: string, fallback: string | undefined): Promise<Record<string, JsonValue>> {
    for (;;) {
      let line = await this.line(`${question}${fallback ? " [the --body given]" : ""}: `);
      let text = line === null || line.trim() === "" ? (fallback ?? "") : line;
      try {
        if (text.trim() === "") {
          throw new InitError(
            line === null
              ? `the input ended before '${question}' was answered: answer each question on its line, or use --yes with flags`
              : "the sample body is needed: init tunes its fields",
          );
        }
        while (!text.trim().startsWith("@") && openBrackets(text) > 0 && line !== null) {
          line = await this.line("... ");
          if (line === null || line.trim() === "") break;
          text += `\n${line}`;
        }
        return readBody(text.trim());
      } catch (error) {
        this.retry(error, line === null);
      }
    }
  }

  close(): void {
    this.rl.close();
  }
}

/** The questions, with the flags given as their defaults. */
async function askAnswers(flags: Flags, io: Io): Promise<InitAnswers> {
  const prompter = new Prompter(process.stdin, io.stderr);
  try {
    io.stderr.write("A starting config for your API: a few questions (Enter takes the default in brackets).\n");
    const { endpoint, auth: queryAuth } = await prompter.ask("Endpoint URL", flags.endpoint, (t) => endpointOf(t, process.env));
    let auth: InitAuth = queryAuth ?? { type: "none" };
    if (!queryAuth) {
      const type = await prompter.ask("How it takes a key: bearer, api_key or none", flags.auth ?? "bearer", authType);
      if (type !== "none") {
        const tokenEnv = await prompter.ask(
          "Environment variable that holds the key",
          flags["token-env"] ?? defaultTokenEnv(endpoint),
          (t) => envVarName(t, "that"),
        );
        auth =
          type === "bearer"
            ? { type, tokenEnv }
            : {
                type,
                tokenEnv,
                header: await prompter.ask("Header that carries the key", flags["auth-header"] ?? "x-api-key", headerName),
              };
      }
    }
    const method = await prompter.ask("HTTP method", flags.method ?? "POST", methodOf);
    const body = await prompter.askBody("Sample request body (JSON, or @FILE)", flags.body);
    const suggested = flags.tune ?? suggestedTunes(body).join(",");
    const tune = await prompter.ask("Fields to tune (dotted paths, comma-separated)", suggested || undefined, (t) => {
      // Checked here so a path not in the body is asked again, not found after the last question.
      checkTunes(body, splitList(t), method);
      return splitList(t);
    });
    const name = await prompter.ask("Config name (api.name)", flags.name ?? defaultName(endpoint), (t) => t);
    const output = await prompter.ask("Write it to", flags.output ?? DEFAULT_OUTPUT, (t) => outputFree(t, flags.force));
    return { endpoint, auth, method, headers: {}, body, tune, name, output };
  } finally {
    prompter.close();
  }
}

/** Auth from --auth, --token-env and --auth-header (bearer when a variable is named, else none). */
function flagAuth(flags: Flags): InitAuth {
  const type = authType(flags.auth ?? (flags["token-env"] ? "bearer" : "none"));
  if (type === "none") {
    if (flags["token-env"]) throw new InitError("--auth none sends no key: leave out --token-env, or choose --auth bearer or api_key");
    return { type };
  }
  if (!flags["token-env"]) throw new InitError(`--auth ${type} needs --token-env NAME: the environment variable that holds the key`);
  const tokenEnv = envVarName(flags["token-env"], "--token-env");
  return type === "bearer" ? { type, tokenEnv } : { type, tokenEnv, header: headerName(flags["auth-header"] ?? "x-api-key") };
}

function tuneFor(flags: Flags, body: Record<string, JsonValue>): string[] {
  if (flags.tune !== undefined) return splitList(flags.tune);
  const suggested = suggestedTunes(body);
  if (suggested.length === 0) {
    throw new InitError(`name the fields to tune with --tune (the body's fields: ${Object.keys(body).join(", ") || "none"})`);
  }
  return suggested;
}

function curlAnswers(flags: Flags, command: string): InitAnswers {
  const given = (["endpoint", "body", "method", "token-env", "auth", "auth-header"] as const).filter((f) => flags[f] !== undefined);
  if (given.length > 0) {
    throw new InitError(
      `--from-curl gives the endpoint, method, key and body: leave out --${given.join(", --")} (--tune, --name and --output go with it)`,
    );
  }
  const curl = parseCurl(command);
  const { endpoint, auth: queryAuth } = endpointOf(curl.url, process.env);
  const { auth: headerAuth, headers } = headersOf(curl.headers, endpoint, process.env);
  if (queryAuth && headerAuth)
    throw new InitError("the curl command carries a key in the URL and in a header: Convergence sends one (api.auth)");
  const bodyText = curl.bodyFile !== null ? `@${curl.bodyFile}` : curl.body;
  if (bodyText === null) throw new InitError("the curl command sends no body (-d '{...}'): init tunes the fields of a JSON body");
  const body = readBody(bodyText);
  return {
    endpoint,
    auth: headerAuth ?? queryAuth ?? { type: "none" },
    method: methodOf(curl.method),
    headers,
    body,
    tune: tuneFor(flags, body),
    name: flags.name ?? defaultName(endpoint),
    output: outputFree(flags.output ?? DEFAULT_OUTPUT, flags.force),
  };
}

function flagAnswers(flags: Flags): InitAnswers {
  if (flags.endpoint === undefined)
    throw new InitError("missing --endpoint URL (or use --from-curl, or answer the questions without --yes)");
  const { endpoint, auth: queryAuth } = endpointOf(flags.endpoint, process.env);
  const auth = flagAuth(flags);
  if (queryAuth && auth.type !== "none")
    throw new InitError("the endpoint carries a key in its query string and --token-env names one too: give one");
  if (flags.body === undefined) throw new InitError("missing --body JSON: a sample request body, whose fields init tunes");
  const body = readBody(flags.body);
  return {
    endpoint,
    auth: queryAuth ?? auth,
    method: methodOf(flags.method ?? "POST"),
    headers: {},
    body,
    tune: tuneFor(flags, body),
    name: flags.name ?? defaultName(endpoint),
    output: outputFree(flags.output ?? DEFAULT_OUTPUT, flags.force),
  };
}

async function write(path: string, text: string, force: boolean): Promise<void> {
  try {
    // "wx": a file that appeared since the question is not replaced either.
    await writeFile(path, text, { flag: force ? "w" : "wx" });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw alreadyExists(path);
    if (code === "ENOENT") throw new InitError(`cannot write ${path}: its folder does not exist`);
    throw new InitError(`cannot write ${path}: ${code ?? (error as Error).message}`);
  }
}

async function init(flags: Flags, io: Io): Promise<number> {
  const fromCurl = flags["from-curl"];
  const answers =
    fromCurl !== undefined
      ? curlAnswers(flags, fromCurl === "-" ? readFileSync(0, "utf8") : fromCurl)
      : flags.yes
        ? flagAnswers(flags)
        : await askAnswers(flags, io);
  const built = buildInitConfig(answers);
  await write(answers.output, built.yaml, flags.force);
  const output = answers.output;
  const from = built.inputFields.length > 0 ? `; each test case gives ${built.inputFields.join(", ")}` : "";
  io.stdout.write(`wrote ${output}: ${built.parameters.length} to tune (${built.parameters.join(", ")})${from}\n`);
  const checked = await checkConfigFile(output);
  printValidation(io, output, checked);
  const auth = answers.auth;
  const unset = auth.type !== "none" && !process.env[auth.tokenEnv] ? auth.tokenEnv : null;
  if (unset) {
    io.stdout.write(
      `${unset} is not set in this shell, so validate reports it: set it (export ${unset}=...) and run convergence validate ${output}\n`,
    );
  }
  // Read from the text of the error: prepare's api.auth error is authHeaders' RequestError (src/target/request.ts),
  // "environment variable NAME is not set (named by ...)". Should that text stop naming the variable, init exits 2.
  const onlyUnset = unset !== null && checked.errors.every((e) => e.path === "api.auth" && e.message.includes(unset));
  if (checked.errors.length > 0 && !onlyUnset) return 2;
  io.stdout.write(
    `next: add test cases and what good answers hold (the comments in ${output} say how), then convergence optimize ${output}\n`,
  );
  return 0;
}

/** Exit 0 once the config is written and valid (but for a key not set in this shell); 2 for input it cannot use. */
export async function initCommand(args: readonly string[], io: Io): Promise<number> {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: {
        "from-curl": { type: "string" },
        yes: { type: "boolean", short: "y", default: false },
        endpoint: { type: "string" },
        "token-env": { type: "string" },
        auth: { type: "string" },
        "auth-header": { type: "string" },
        method: { type: "string", short: "X" },
        body: { type: "string" },
        tune: { type: "string" },
        name: { type: "string" },
        output: { type: "string", short: "o" },
        force: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      io.stdout.write(INIT_USAGE);
      return 0;
    }
    return await init(values, io);
  } catch (error) {
    if (error instanceof InitError) {
      io.stderr.write(`convergence init: ${error.message}\n`);
      return 2;
    }
    if (error instanceof Interrupted) return 130;
    if ((error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.stderr.write(`convergence init: ${(error as Error).message}\n\n${INIT_USAGE}`);
      return 2;
    }
    throw error;
  }
}
