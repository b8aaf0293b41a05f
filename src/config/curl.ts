/**
 * A curl command as users paste it (from API docs, or a browser's "Copy as cURL"), read into the request it
 * sends, for `convergence init --from-curl`. Nothing is expanded or run: `$VAR` stays text, so a header that
 * names a variable can become `token_env`, and one holding a key can be refused.
 */
import { InitError } from "./init-config.js";

/** The bash escapes of `$'...'` quoting, which browsers use for bodies holding quotes or newlines. */
const ANSI_C_ESCAPES: Record<string, string> = {
  n: "\n",
  t: "\t",
  r: "\r",
  "\\": "\\",
  "'": "'",
  '"': '"',
  "?": "?",
  a: "\x07",
  b: "\b",
  e: "\x1b",
  f: "\f",
  v: "\v",
};

function ansiCQuoted(text: string, start: number): { value: string; end: number } {
  let value = "";
  let i = start;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === "'") return { value, end: i + 1 };
    if (ch !== "\\") {
      value += ch;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === undefined) break;
    const hex =
      next === "x" ? text.slice(i + 2).match(/^[0-9a-fA-F]{1,2}/) : next === "u" ? text.slice(i + 2).match(/^[0-9a-fA-F]{1,4}/) : null;
    if (hex) {
      value += String.fromCodePoint(Number.parseInt(hex[0], 16));
      i += 2 + hex[0].length;
    } else if (Object.hasOwn(ANSI_C_ESCAPES, next)) {
      value += ANSI_C_ESCAPES[next];
      i += 2;
    } else {
      // bash keeps an unknown escape as it is written.
      value += `\\${next}`;
      i += 2;
    }
  }
  throw new InitError("the curl command has a $'...' quote that is never closed");
}

/**
 * The words of a shell command line, quoted as bash quotes them: '...' literally, "..." with \ escaping only
 * $ ` " \ and a newline, $'...' with C escapes, and a backslash-newline joining lines. Operators (| ; & < >) are
 * refused rather than read as text: a pipeline is not one curl command.
 */
export function shellWords(text: string): string[] {
  const source = text.replace(/\r\n/g, "\n");
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    if (ch === "'") {
      const end = source.indexOf("'", i + 1);
      if (end === -1) throw new InitError("the curl command has a ' quote that is never closed");
      word += source.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === "$" && source[i + 1] === "'") {
      const quoted = ansiCQuoted(source, i + 2);
      word += quoted.value;
      inWord = true;
      i = quoted.end;
    } else if (ch === '"') {
      i++;
      let closed = false;
      while (i < source.length) {
        const c = source[i] as string;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        const next = source[i + 1];
        if (c === "\\" && next !== undefined && '$`"\\\n'.includes(next)) {
          if (next !== "\n") word += next;
          i += 2;
        } else {
          word += c;
          i++;
        }
      }
      if (!closed) throw new InitError('the curl command has a " quote that is never closed');
      inWord = true;
    } else if (ch === "\\") {
      const next = source[i + 1];
      if (next === undefined) throw new InitError("the curl command ends with a lone backslash");
      // A backslash-newline continues the line: it separates nothing and adds nothing.
      if (next !== "\n") {
        word += next;
        inWord = true;
      }
      i += 2;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
    } else if ("|;&<>".includes(ch)) {
      throw new InitError(`the curl command holds a shell operator (${ch}): paste the curl command alone`);
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

export interface CurlRequest {
  url: string;
  /** As given by -X, else what curl would send: POST with a body, GET without. */
  method: string;
  headers: [string, string][];
  body: string | null;
  /** `-d @FILE`: curl reads the body from that file (the caller does, relative to where it runs). */
  bodyFile: string | null;
}

/** Options that change nothing init needs (output, progress, TLS, redirects): skipped, with their argument. */
const SKIPPED_WITH_ARGUMENT = new Set([
  "-o",
  "--output",
  "-m",
  "--max-time",
  "--connect-timeout",
  "--retry",
  "--retry-delay",
  "--retry-max-time",
  "-w",
  "--write-out",
  "-A",
  "--user-agent",
  "-e",
  "--referer",
]);
const SKIPPED = new Set([
  "-s",
  "--silent",
  "-S",
  "--show-error",
  "-L",
  "--location",
  "-i",
  "--include",
  "-v",
  "--verbose",
  "-k",
  "--insecure",
  "--compressed",
  "-f",
  "--fail",
  "--fail-with-body",
  "-N",
  "--no-buffer",
  "-g",
  "--globoff",
  "--http1.1",
  "--http2",
]);
const METHOD = new Set(["-X", "--request"]);
const HEADER = new Set(["-H", "--header"]);
const DATA = new Set(["-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--json"]);
/** Short options that take an argument, which may be glued on (-XPOST, -H'a: b'). */
const SHORT_WITH_ARGUMENT = new Set(["-X", "-H", "-d", "-o", "-m", "-w", "-A", "-e"]);

/** Options init cannot turn into a config, and why: said, rather than guessed around. */
const REFUSED: Record<string, string> = {
  "-u": "-u/--user (basic auth) is not something init writes: give the key in a header (-H 'Authorization: Bearer $VAR'), or set api.auth by hand",
  "--user":
    "-u/--user (basic auth) is not something init writes: give the key in a header (-H 'Authorization: Bearer $VAR'), or set api.auth by hand",
  "-F": "-F/--form sends a multipart form: init needs a JSON body (-d '{...}')",
  "--form": "-F/--form sends a multipart form: init needs a JSON body (-d '{...}')",
  "--data-urlencode": "--data-urlencode sends a form: init needs a JSON body (-d '{...}')",
  "-G": "-G/--get sends the data as a query string: init needs a JSON body (-d '{...}'), or the parameters in the URL",
  "--get": "-G/--get sends the data as a query string: init needs a JSON body (-d '{...}'), or the parameters in the URL",
  "-b": "-b/--cookie sends cookies, which hold sessions: init writes no secret; use a key in an environment variable",
  "--cookie": "-b/--cookie sends cookies, which hold sessions: init writes no secret; use a key in an environment variable",
};

/** Split a cluster of short flags (-sSL, -sXPOST) into options, each with its glued argument if it takes one. */
function expandShort(word: string): { option: string; glued?: string }[] {
  const out: { option: string; glued?: string }[] = [];
  for (let j = 1; j < word.length; j++) {
    const option = `-${word[j]}`;
    if (SHORT_WITH_ARGUMENT.has(option)) {
      const rest = word.slice(j + 1);
      out.push(rest === "" ? { option } : { option, glued: rest });
      return out;
    }
    out.push({ option });
  }
  return out;
}

/** The request a curl command sends: method, URL, headers and body, each as written. */
export function parseCurl(command: string): CurlRequest {
  const words = shellWords(command.trim());
  if (words.length === 0) throw new InitError("the curl command is empty");
  if (!/(^|[\\/])curl(\.exe)?$/.test(words[0] as string)) {
    throw new InitError(`expected a curl command (curl -X POST URL -H ... -d '{...}'), got one starting with '${words[0]}'`);
  }
  let method: string | null = null;
  let url: string | null = null;
  let body: string | null = null;
  let bodyFile: string | null = null;
  const headers: [string, string][] = [];
  const setUrl = (value: string) => {
    if (url !== null) throw new InitError(`the curl command names two URLs (${url} and ${value}): init writes a config for one endpoint`);
    url = value;
  };
  let i = 1;
  while (i < words.length) {
    const word = words[i++] as string;
    if (word === "--") {
      for (const rest of words.slice(i)) setUrl(rest);
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      setUrl(word);
      continue;
    }
    const options = word.startsWith("--") ? [{ option: word }] : expandShort(word);
    for (const { option, glued } of options as { option: string; glued?: string }[]) {
      const argument = (): string => {
        if (glued !== undefined) return glued;
        const next = words[i++];
        if (next === undefined) throw new InitError(`curl option ${option} needs a value`);
        return next;
      };
      const refused = REFUSED[option];
      if (refused !== undefined) throw new InitError(refused);
      if (METHOD.has(option)) method = argument().toUpperCase();
      else if (HEADER.has(option)) {
        const header = argument();
        const colon = header.indexOf(":");
        if (colon <= 0) throw new InitError(`curl header '${header.split(/\s/)[0]}' is not 'Name: value'`);
        headers.push([header.slice(0, colon).trim(), header.slice(colon + 1).trim()]);
      } else if (DATA.has(option)) {
        if (body !== null || bodyFile !== null)
          throw new InitError("the curl command gives the body more than once: give the whole JSON body in one -d");
        body = argument();
        // Only --data-raw sends an @ as it is.
        if (body.startsWith("@") && option !== "--data-raw") [body, bodyFile] = [null, body.slice(1)];
        // --json is curl's shorthand for a JSON body with these two headers.
        if (option === "--json") headers.push(["Content-Type", "application/json"], ["Accept", "application/json"]);
      } else if (option === "--url") setUrl(argument());
      else if (SKIPPED_WITH_ARGUMENT.has(option)) argument();
      else if (!SKIPPED.has(option)) {
        throw new InitError(
          `curl option ${option} is not one init understands: it reads -X/--request, -H/--header, -d/--data/--data-raw/--json and the URL`,
        );
      }
    }
  }
  if (url === null) throw new InitError("the curl command names no URL");
  const hasBody = body !== null || bodyFile !== null;
  return { url, method: method ?? (hasBody ? "POST" : "GET"), headers, body, bodyFile };
}
