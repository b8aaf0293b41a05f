/**
 * What a run on the service may call. Whoever holds an API key writes the config, and the service makes the calls
 * from inside the deployment's network, so the URLs a config names are checked before the run starts and again
 * at every call (redirects included): http(s) only; no credentials in the URL; no loopback, private, link-local,
 * unique-local, shared (CGNAT), multicast, reserved or unspecified address in any spelling (decimal, octal, hex
 * and short IPv4 forms, IPv4 inside IPv6); no `localhost` or private-use name; not the service's own host. An
 * operator lets a run reach such a host by listing it in RUN_ALLOWED_HOSTS.
 *
 * Host names are judged by name: nothing is resolved (a Worker cannot resolve names itself), so a public name
 * whose DNS points at a private address is not caught here.
 *
 * In process (SDK, CLI) the user runs their own code against their own network, and none of this applies.
 */

/** The header every request a run makes carries; the API refuses to start a run from a request that has it. */
export const RUN_HEADER = "x-convergence-run";

/** Redirects followed per call; each hop is checked like the first URL. */
const MAX_REDIRECTS = 5;

export interface EgressPolicy {
  /** `host` or `host:port` entries (RUN_ALLOWED_HOSTS): these hosts may be called whatever their address. */
  allowedHosts: readonly string[];
  /** The service's own hosts (`host`: any port, or `host:port`): a run may not call the service itself. */
  ownHosts: readonly string[];
}

type EgressRule =
  | "scheme"
  | "userinfo"
  | "own_host"
  | "loopback"
  | "localhost"
  | "private"
  | "private_name"
  | "link_local"
  | "metadata"
  | "unique_local"
  | "shared"
  | "unspecified"
  | "broadcast"
  | "multicast"
  | "reserved";

export type EgressVerdict = { ok: true; url: URL } | { ok: false; rule: EgressRule; message: string };

/** A call refused by the policy: final, never retried. */
export class EgressRefused extends Error {
  override name = "EgressRefused";
}

const WHAT: Record<Exclude<EgressRule, "scheme" | "userinfo" | "own_host">, string> = {
  loopback: "a loopback address (the machine the service runs on)",
  localhost: "a localhost name (the machine the service runs on)",
  private: "a private network address",
  private_name: "a name that only resolves inside a private network",
  link_local: "a link-local address",
  metadata: "the cloud metadata address",
  unique_local: "a unique-local IPv6 address (a private network)",
  shared: "a shared (carrier-grade NAT) address",
  unspecified: "an unspecified address (it reaches the machine the service runs on)",
  broadcast: "the broadcast address",
  multicast: "a multicast address",
  reserved: "a reserved address",
};

interface HostEntry {
  host: string;
  /** null: any port. */
  port: string | null;
}

const stripDots = (host: string): string => host.replace(/\.+$/, "");

/** A host as the WHATWG URL parser writes it (so 0x7f.1 is 127.0.0.1), or null when it is not a host. */
function canonicalHost(host: string): string | null {
  try {
    return stripDots(new URL(`http://${host}/`).hostname);
  } catch {
    return null;
  }
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`, a bare IPv6 address, or a URL (its host and explicit port). */
function parseHostEntry(entry: string): HostEntry | null {
  let text = entry.trim().toLowerCase();
  if (text === "") return null;
  if (text.includes("://")) {
    try {
      const url = new URL(text);
      return { host: stripDots(url.hostname), port: url.port === "" ? null : url.port };
    } catch {
      return null;
    }
  }
  let port: string | null = null;
  const bracketed = text.match(/^(\[[^\]]+\])(?::(\d+))?$/);
  if (bracketed) {
    text = bracketed[1] as string;
    port = bracketed[2] ?? null;
  } else if ((text.match(/:/g) ?? []).length > 1) {
    text = `[${text}]`;
  } else {
    const withPort = text.match(/^(.*):(\d+)$/);
    if (withPort) {
      text = withPort[1] as string;
      port = withPort[2] as string;
    }
  }
  const host = canonicalHost(text);
  return host === null || host === "" ? null : { host, port: port === null ? null : String(Number(port)) };
}

/** Comma-separated entries (a var's value); the ones that are not hosts are left out. */
export function hostList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "" && parseHostEntry(e) !== null);
}

function effectivePort(url: URL): string {
  if (url.port !== "") return url.port;
  return url.protocol === "https:" ? "443" : "80";
}

function ipv4(host: string): number[] | null {
  const m = host.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}

function classifyV4(v4: readonly number[]): EgressRule | null {
  const [a = 0, b = 0, c = 0, d = 0] = v4;
  if (a === 0) return "unspecified";
  if (a === 127) return "loopback";
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
  if (a === 169 && b === 254) return c === 169 && d === 254 ? "metadata" : "link_local";
  if (a === 100 && b >= 64 && b <= 127) return "shared";
  if (a === 255 && b === 255 && c === 255 && d === 255) return "broadcast";
  if (a >= 224 && a <= 239) return "multicast";
  // 192.0.0.0/24 (protocol assignments: 192.0.0.192 is a cloud's metadata address), 198.18.0.0/15
  // (benchmarking), 240.0.0.0/4 (reserved).
  if ((a === 192 && b === 0 && c === 0) || (a === 198 && (b === 18 || b === 19)) || a >= 240) return "reserved";
  return null;
}

/** The eight 16-bit groups of an IPv6 address as the URL parser writes it (hex, compressed, no zone). */
function ipv6Groups(text: string): number[] | null {
  let body = text;
  let tail: number[] = [];
  const dotted = body.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const v4 = ipv4(dotted[2] as string);
    if (!v4) return null;
    body = `${dotted[1]}0:0`;
    tail = [(v4[0] as number) * 256 + (v4[1] as number), (v4[2] as number) * 256 + (v4[3] as number)];
  }
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? Number.parseInt(g, 16) : Number.NaN)));
  const head = parse(halves[0] as string);
  const rest = halves.length === 2 ? parse(halves[1] as string) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 0 : missing !== 0) return null;
  const groups = [...head, ...Array.from({ length: halves.length === 2 ? missing : 0 }, () => 0), ...rest];
  if (groups.length !== 8 || groups.some((g) => Number.isNaN(g))) return null;
  if (tail.length > 0) groups.splice(6, 2, ...tail);
  return groups;
}

const v4Of = (hi: number, lo: number): [number, number, number, number] => [hi >> 8, hi & 255, lo >> 8, lo & 255];

function classifyV6(g: number[]): EgressRule | null {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeros(8)) return "unspecified";
  if (zeros(7) && g7 === 1) return "loopback";
  // IPv4 inside IPv6: mapped (::ffff:a.b.c.d), translated (::ffff:0:a.b.c.d), compatible (::a.b.c.d) and
  // NAT64 (64:ff9b::a.b.c.d) reach the IPv4 address they carry; 6to4 (2002:AABB:CCDD::) carries one too.
  if (zeros(5) && g5 === 0xffff) return classifyV4(v4Of(g6, g7));
  if (zeros(4) && g4 === 0xffff && g5 === 0) return classifyV4(v4Of(g6, g7));
  if (zeros(6)) return classifyV4(v4Of(g6, g7));
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return classifyV4(v4Of(g6, g7));
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return "private";
  if (g0 === 0x2002) return classifyV4(v4Of(g1, g2));
  if ((g0 & 0xffc0) === 0xfe80) return "link_local";
  if ((g0 & 0xffc0) === 0xfec0) return "private";
  if ((g0 & 0xfe00) === 0xfc00) return "unique_local";
  if ((g0 & 0xff00) === 0xff00) return "multicast";
  return null;
}

/** What kind of host this is when it is one a run may not call by default; null for a public host. */
function classifyHost(hostname: string): EgressRule | null {
  const host = stripDots(hostname.toLowerCase());
  if (host.startsWith("[") && host.endsWith("]")) {
    const groups = ipv6Groups(host.slice(1, -1));
    return groups ? classifyV6(groups) : "reserved";
  }
  const v4 = ipv4(host);
  if (v4) return classifyV4(v4);
  if (host === "localhost" || host.endsWith(".localhost")) return "localhost";
  // A single label resolves through the local search domains (a cloud's `metadata`); these suffixes are
  // reserved for private networks (RFC 6762, RFC 8375, ICANN's .internal).
  if (!host.includes(".") || /\.(internal|local|home\.arpa)$/.test(host)) return "private_name";
  return null;
}

const loopbackish = (host: string): boolean => {
  const rule = classifyHost(host);
  return rule === "loopback" || rule === "localhost" || rule === "unspecified";
};

function describeOrigin(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/** Whether a run may call this URL under the policy, and if not, which rule refuses it and how to allow it. */
export function checkUrl(input: string | URL, policy: EgressPolicy): EgressVerdict {
  let url: URL;
  try {
    url = typeof input === "string" ? new URL(input) : input;
  } catch {
    return { ok: false, rule: "scheme", message: "the URL cannot be read: a run calls http: and https: URLs only" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, rule: "scheme", message: `a ${url.protocol} URL is not allowed for runs: a run calls http: and https: URLs only` };
  }
  const origin = describeOrigin(url);
  // Credentials written into a URL are kept with the run's config in plain text and sent wherever the URL
  // (or a redirect) leads: a run's keys come from the environment, by name, in api.auth.
  if (url.username !== "" || url.password !== "") {
    return {
      ok: false,
      rule: "userinfo",
      message: `${origin} carries a user name or password in the URL, which runs may not do: give credentials with api.auth (token_env, username_env, password_env) instead`,
    };
  }
  const host = stripDots(url.hostname);
  const port = effectivePort(url);
  const allowed = policy.allowedHosts.map(parseHostEntry).filter((e): e is HostEntry => e !== null);
  const listed = (e: HostEntry) => e.host === host && (e.port === null || e.port === port);
  const hostPort = url.port ? `${host}:${url.port}` : host;
  for (const own of policy.ownHosts.map(parseHostEntry)) {
    if (!own) continue;
    const same =
      (own.host === host && (own.port === null || own.port === port)) || (own.port === port && loopbackish(own.host) && loopbackish(host));
    if (!same) continue;
    // Listing the name alone is not enough: only an entry written exactly as the service is reached allows it.
    const exact = own.port === null ? `${host}` : `${host}:${port}`;
    if (allowed.some((e) => e.host === host && e.port === own.port)) break;
    return {
      ok: false,
      rule: "own_host",
      message: `${origin} is not allowed for runs on this service: it is this service's own host, and a run may not call the service itself; add ${exact} to the RUN_ALLOWED_HOSTS var (comma-separated) to allow it anyway`,
    };
  }
  if (allowed.some(listed)) return { ok: true, url };
  const rule = classifyHost(url.hostname);
  if (rule === null) return { ok: true, url };
  const suggestion = url.port ? `${hostPort} (or ${host})` : host;
  return {
    ok: false,
    rule,
    message: `${origin} is not allowed for runs on this service: ${host} is ${WHAT[rule as keyof typeof WHAT]}; add ${suggestion} to the RUN_ALLOWED_HOSTS var (comma-separated) to allow it`,
  };
}

type FetchInput = Parameters<typeof fetch>[0];

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/**
 * The headers a redirect to another origin keeps. fetch drops only Authorization there, but a key can travel in
 * any header a config names (api.auth.header_name), so everything else is dropped.
 */
const CROSS_ORIGIN_HEADERS = new Set(["accept", "accept-language", "content-type", "content-length", "user-agent", RUN_HEADER]);

export interface GuardOptions {
  /** The fetch that really calls (default: the global one). */
  fetch?: typeof fetch;
  /** The value of the run header: the run's id. */
  marker: string;
}

/** A fetch whose every request carries the run header (for service bindings, which have no host to check). */
export function markedFetch(base: typeof fetch, marker: string): typeof fetch {
  return ((input: FetchInput, init?: RequestInit) => {
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    headers.set(RUN_HEADER, marker);
    return base(input, { ...init, headers });
  }) as typeof fetch;
}

/**
 * A fetch that checks each URL against the policy before calling it, marks each request with the run header,
 * and follows redirects itself (a few hops), checking every Location like the first URL. A refused URL throws
 * EgressRefused, which callers report as a final failure.
 */
export function guardedFetch(policy: EgressPolicy, options: GuardOptions): typeof fetch {
  const base = options.fetch ?? ((input: FetchInput, init?: RequestInit) => fetch(input, init));
  return (async (input: FetchInput, init?: RequestInit) => {
    const request = input instanceof Request ? input : null;
    let url = request ? request.url : String(input);
    let method = (init?.method ?? request?.method ?? "GET").toUpperCase();
    const headers = new Headers(init?.headers ?? request?.headers);
    let body: RequestInit["body"] = init?.body ?? (request ? request.body : undefined);
    const signal = init?.signal ?? request?.signal ?? null;
    for (let hop = 0; ; hop++) {
      const verdict = checkUrl(url, policy);
      if (!verdict.ok) throw new EgressRefused(hop === 0 ? verdict.message : `a redirect was refused: ${verdict.message}`);
      headers.set(RUN_HEADER, options.marker);
      const response = await base(url, {
        method,
        headers,
        ...(body === undefined || body === null ? {} : { body }),
        ...(signal ? { signal } : {}),
        redirect: "manual",
      });
      const location = REDIRECTS.has(response.status) ? response.headers.get("location") : null;
      if (location === null) return response;
      if (hop >= MAX_REDIRECTS) {
        await response.body?.cancel();
        throw new EgressRefused(`${describeOrigin(verdict.url)} redirected more than ${MAX_REDIRECTS} times`);
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return response;
      }
      await response.body?.cancel();
      if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === "POST")) {
        if (method !== "HEAD") method = "GET";
        body = undefined;
        headers.delete("content-type");
        headers.delete("content-length");
      }
      if (next.origin !== verdict.url.origin) {
        for (const name of [...headers.keys()]) if (!CROSS_ORIGIN_HEADERS.has(name)) headers.delete(name);
      }
      url = next.href;
    }
  }) as typeof fetch;
}
