import { CST, type Document, isAlias, isMap, isPair, isScalar, isSeq, Lexer, LineCounter, type Node, parseDocument } from "yaml";
import { jsonDepth, MAX_JSON_DEPTH, utf8Length } from "../json.js";
import { type ConfigIssue, formatPath } from "./issues.js";

export type ConfigFormat = "yaml" | "json";

export function formatFromName(name: string): ConfigFormat | null {
  const lower = name.toLowerCase();
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return "yaml";
  if (lower.endsWith(".json")) return "json";
  return null;
}

/**
 * What a config file read from disk may hold (the SDK and CLI). The service passes its body limit instead; a
 * file this large is a mistake, and its value could not be held anyway.
 */
const DEFAULT_MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/**
 * Aliases and anchors per YAML document. Configs need a few (a shared block of parameters or headers); each
 * alias may stand for a large subtree, and they are what expansion attacks ("billion laughs") are built from.
 */
const MAX_YAML_ALIASES = 100;
const MAX_YAML_ANCHORS = 100;

/**
 * Tokens a YAML document may have. The YAML parser costs far more per token than JSON.parse (about 2.5 µs: a
 * 1 MiB flow list of 500,000 numbers takes 4 s), so a YAML body is bounded by its count of tokens, counted by the
 * linear lexer before parsing: 200,000 is about 60,000 entries (0.4 s). A config larger than that goes as JSON.
 */
const MAX_YAML_TOKENS = 200_000;

/**
 * One pass of the lexer before the parser, which recurses per level of flow collections and of compact sequences
 * (`- - - 1`) and would spend seconds on a megabyte of `[`: their nesting and the token count are refused here.
 */
function prescanYaml(text: string, source: string): string | null {
  const deep = () => `${source} nests lists and mappings more than ${MAX_JSON_DEPTH} levels deep (line ${line})`;
  let tokens = 0;
  let flow = 0;
  let compact = 0;
  let line = 1;
  for (const token of new Lexer().lex(text)) {
    if (++tokens > MAX_YAML_TOKENS) return `${source} is too large for YAML (more than ${MAX_YAML_TOKENS} tokens): send it as JSON`;
    switch (CST.tokenType(token)) {
      case "flow-map-start":
      case "flow-seq-start":
        if (++flow > MAX_JSON_DEPTH) return deep();
        break;
      case "flow-map-end":
      case "flow-seq-end":
        flow = Math.max(0, flow - 1);
        break;
      case "seq-item-ind":
      case "explicit-key-ind":
        if (++compact > MAX_JSON_DEPTH) return deep();
        break;
      case "newline":
        compact = 0;
        line += 1;
        break;
    }
  }
  return null;
}

export interface ParseOptions {
  /** The largest value accepted, measured as its JSON text, aliases expanded (DEFAULT_MAX_CONFIG_BYTES). */
  maxBytes?: number;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/**
 * Parse YAML or JSON text. Errors name the source and the line, never throw. Every cost is linear in the text:
 * nesting, aliases, anchors and the expanded size are measured on the parsed document before any value is built,
 * and duplicate keys are found with one set per mapping.
 */
export function parseConfigText(
  text: string,
  format: ConfigFormat,
  source: string,
  options: ParseOptions = {},
): { value: unknown; errors: ConfigIssue[] } {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CONFIG_BYTES;
  const refuse = (message: string, path = "") => ({ value: undefined, errors: [{ path, message }] });
  if (text.length > maxBytes) return refuse(`${source} is larger than ${formatBytes(maxBytes)}, the most a config may be`);
  if (format === "json") {
    if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      return refuse(`${source} nests lists and objects more than ${MAX_JSON_DEPTH} levels deep`);
    }
    try {
      return { value: JSON.parse(text), errors: [] };
    } catch (error) {
      return refuse(`${source} is not valid JSON: ${messageOf(error)}`);
    }
  }
  // JSON is YAML too, so YAML parsing also accepts .json bodies sent as YAML. The parser's own duplicate-key
  // check compares each key with every earlier one (quadratic): measure() finds duplicates instead.
  const unparsable = prescanYaml(text, source);
  if (unparsable) return refuse(unparsable);
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false, merge: true, lineCounter });
  } catch (error) {
    return refuse(`${source} cannot be read as YAML: ${messageOf(error)}`);
  }
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const where = first?.linePos?.[0] ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}` : "";
    const detail = (first?.message ?? "syntax error").split("\n")[0] ?? "syntax error";
    // The parser recurses per level: a document nested deeper than its stack ends there.
    if (/call stack/i.test(detail)) return refuse(`${source} nests lists and mappings more than ${MAX_JSON_DEPTH} levels deep`);
    return refuse(`${source} is not valid YAML${where}: ${detail}`);
  }
  const problem = measure(doc, source, maxBytes, lineCounter);
  if (problem) return { value: undefined, errors: [problem] };
  try {
    // measure() bounded the aliases already; the parser's own count would rescan the document per alias.
    const value = doc.toJS({ maxAliasCount: -1 });
    // measure() sized the value as it will be kept; this holds the bound exactly whatever the estimate missed.
    if (utf8Length(JSON.stringify(value)) > maxBytes)
      return refuse(`${source} holds more than ${formatBytes(maxBytes)} once its aliases are expanded`);
    return { value, errors: [] };
  } catch (error) {
    return refuse(`${source} cannot be read as YAML: ${messageOf(error)}`);
  }
}

/** Thrown inside measure() to stop at the first problem. */
class Refused extends Error {
  constructor(readonly issue: ConfigIssue) {
    super(issue.message);
  }
}

interface Extent {
  /** Length of the node's value as JSON text, aliases expanded. */
  size: number;
  /** Levels of lists and mappings in it (0 for a scalar). */
  height: number;
}

/** The JavaScript key a scalar map key becomes (as the yaml package's toJS makes it), or null for a merge key. */
function keyText(value: unknown): string | null {
  if (typeof value === "symbol") return null;
  if (value === null || value === undefined) return "";
  return String(value);
}

/**
 * One walk over the parsed document: the size and depth of the value it stands for, counting each alias as the
 * value it repeats (remembered per anchor, so an alias costs O(1)), and duplicate keys. Returns the first problem.
 */
function measure(doc: Document.Parsed, source: string, maxBytes: number, lines: LineCounter): ConfigIssue | null {
  const anchors = new Map<string, Node>();
  const extents = new Map<Node, Extent>();
  let aliasCount = 0;
  let anchorCount = 0;
  const path: (string | number)[] = [];
  const lineOf = (node: { range?: readonly number[] | null | undefined } | null | undefined) =>
    node?.range ? lines.linePos(node.range[0] ?? 0).line : null;
  const at = (node: { range?: readonly number[] | null | undefined } | null | undefined) => {
    const line = lineOf(node);
    return line === null ? "" : ` (line ${line})`;
  };
  const fail = (message: string, located = true): never => {
    throw new Refused({ path: located ? formatPath(path) : "", message });
  };
  const checkSize = (size: number, node: Node | null) => {
    if (size > maxBytes) {
      fail(
        `${source} expands to more than ${formatBytes(maxBytes)}${at(node)}${aliasCount > 0 ? " through its aliases" : ""}, the most a config may be`,
      );
    }
  };

  const walk = (node: unknown, level: number): Extent => {
    if (node === null || node === undefined) return { size: 4, height: 0 };
    if (isAlias(node)) {
      aliasCount += 1;
      if (aliasCount > MAX_YAML_ALIASES) fail(`${source} has more than ${MAX_YAML_ALIASES} aliases (*name)${at(node)}`);
      const target = anchors.get(node.source);
      if (!target) fail(`${source} uses the alias *${node.source} before any anchor &${node.source}${at(node)}`);
      const extent = extents.get(target as Node);
      if (!extent) fail(`${source}: the alias *${node.source} is inside the value it repeats${at(node)}`);
      const { height } = extent as Extent;
      if (level - 1 + height > MAX_JSON_DEPTH) {
        fail(
          `${source} nests lists and mappings more than ${MAX_JSON_DEPTH} levels deep${at(node)} through the alias *${node.source}`,
          false,
        );
      }
      return extent as Extent;
    }
    const anchored = node as Node;
    if (anchored.anchor) {
      anchorCount += 1;
      if (anchorCount > MAX_YAML_ANCHORS) fail(`${source} has more than ${MAX_YAML_ANCHORS} anchors (&name)${at(anchored)}`);
      // An anchor may be defined again: an alias repeats the latest one before it, as the yaml package resolves it.
      anchors.set(anchored.anchor, anchored);
    }
    let extent: Extent;
    if (isScalar(node)) {
      const value = node.value;
      if (value !== null && typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
        fail(`${source} holds a value that is not text, a number, true, false or null (${node.tag ?? "a tagged value"})${at(node)}`);
      }
      extent = { size: typeof value === "string" ? utf8Length(JSON.stringify(value)) : String(value).length, height: 0 };
    } else if (isMap(node) || isSeq(node)) {
      if (node.tag && node.tag !== "tag:yaml.org,2002:map" && node.tag !== "tag:yaml.org,2002:seq") {
        fail(`${source} holds a collection that is not a list or a mapping (${node.tag})${at(node)}`);
      }
      if (level > MAX_JSON_DEPTH) fail(`${source} nests lists and mappings more than ${MAX_JSON_DEPTH} levels deep${at(node)}`, false);
      let size = 2;
      let height = 0;
      const add = (child: Extent) => {
        size += child.size + 1;
        height = Math.max(height, child.height);
        checkSize(size, node);
      };
      if (isMap(node)) {
        const seen = new Map<string, number | null>();
        for (const pair of node.items) add(walkPair(pair, level, seen));
      } else {
        node.items.forEach((item, i) => {
          path.push(i);
          // A `key: value` item of a flow sequence is a mapping of one entry.
          add(isPair(item) ? pairAsMap(item, level + 1) : walk(item, level + 1));
          path.pop();
        });
      }
      extent = { size, height: height + 1 };
    } else {
      fail(`${source} holds a value that is not text, a number, a list or a mapping${at(anchored)}`);
      extent = { size: 0, height: 0 };
    }
    checkSize(extent.size, anchored);
    if (anchored.anchor) extents.set(anchored, extent);
    return extent;
  };

  const pairAsMap = (pair: unknown, level: number): Extent => {
    if (level > MAX_JSON_DEPTH) fail(`${source} nests lists and mappings more than ${MAX_JSON_DEPTH} levels deep`, false);
    const child = walkPair(pair, level, new Map());
    return { size: child.size + 2, height: child.height + 1 };
  };

  const walkPair = (pair: unknown, level: number, seen: Map<string, number | null>): Extent => {
    if (!isPair(pair)) return walk(pair, level + 1);
    const key = pair.key;
    if (key !== null && key !== undefined && !isScalar(key)) {
      fail(`${source}: a key must be text or a number, not a list, a mapping or an alias${at(key as Node)}`);
    }
    const name = key === null || key === undefined ? "" : keyText((key as { value: unknown }).value);
    if (name === null) {
      // A merge key (<<) copies the entries of the mappings it names: they count like the values they repeat.
      const merged = walk(pair.value, level + 1);
      return { size: merged.size, height: Math.max(0, merged.height - 1) };
    }
    const line = lineOf(key as Node | null);
    if (seen.has(name)) {
      const first = seen.get(name);
      path.push(name);
      fail(`${source} has the key ${formatPath(path)} twice${first != null && line !== null ? ` (lines ${first} and ${line})` : ""}`);
    }
    seen.set(name, line);
    path.push(name);
    const value = walk(pair.value, level + 1);
    path.pop();
    return { size: name.length + 3 + value.size, height: value.height };
  };

  try {
    walk(doc.contents, 1);
    return null;
  } catch (error) {
    if (error instanceof Refused) return error.issue;
    if (error instanceof RangeError) return { path: "", message: `${source} nests too deeply to be read` };
    throw error;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
