/**
 * The egress policy of runs on the service (src/target/egress.ts): which URLs a run may call, and the guarded
 * fetch that checks every call and every redirect hop. No network: the fetch under the guard is a fake.
 */
import { describe, expect, it } from "vitest";
import { prepareRun, type RunPolicy } from "../../src/run/prepare.js";
import { checkUrl, EgressRefused, guardedFetch, hostList, RUN_HEADER } from "../../src/target/egress.js";
import { fetchWithRetry } from "../../src/target/fetch-retry.js";

const CLOSED = { allowedHosts: [], ownHosts: ["convergence.example.invalid", "127.0.0.1:8787"] };

describe("checkUrl", () => {
  it.each([
    "https://api.example.invalid/v1/chat/completions",
    "http://api.example.invalid:8080/x",
    "https://8.8.8.8/",
    "https://[2606:4700::1111]/",
    "https://172.32.0.1/",
    "https://100.128.0.1/",
    "https://localhost.example.invalid/",
  ])("lets a run call %s", (url) => {
    expect(checkUrl(url, CLOSED)).toMatchObject({ ok: true });
  });

  it.each([
    ["http://127.0.0.1", "loopback"],
    ["http://127.0.0.1.:9/", "loopback"],
    ["http://2130706433", "loopback"],
    ["http://0177.0.0.1", "loopback"],
    ["http://0x7f.0.0.1", "loopback"],
    ["http://127.1", "loopback"],
    ["http://[::1]", "loopback"],
    ["http://[0:0:0:0:0:0:0:1]:8080", "loopback"],
    ["http://[::ffff:127.0.0.1]", "loopback"],
    ["http://[::ffff:7f00:1]", "loopback"],
    ["http://[::127.0.0.1]", "loopback"],
    ["http://[64:ff9b::10.0.0.1]", "private"],
    ["http://[2002:a00:1::]", "private"],
    ["http://169.254.169.254/latest/meta-data", "metadata"],
    ["http://[::ffff:169.254.169.254]/latest/meta-data", "metadata"],
    ["http://169.254.1.1", "link_local"],
    ["http://10.0.0.1", "private"],
    ["http://172.16.5.4", "private"],
    ["http://192.168.1.1", "private"],
    ["http://100.100.100.200", "shared"],
    ["http://192.0.0.192", "reserved"],
    ["http://[fd00::1]", "unique_local"],
    ["http://[fd00:ec2::254]", "unique_local"],
    ["http://[fe80::1]", "link_local"],
    ["http://0.0.0.0", "unspecified"],
    ["http://0", "unspecified"],
    ["http://[::]", "unspecified"],
    ["http://255.255.255.255", "broadcast"],
    ["http://224.0.0.1", "multicast"],
    ["http://localhost", "localhost"],
    ["http://LOCALHOST:3000", "localhost"],
    ["http://foo.localhost.", "localhost"],
    ["http://metadata/computeMetadata/v1", "private_name"],
    ["http://metadata.google.internal/", "private_name"],
    ["http://printer.local/", "private_name"],
    ["file:///etc/passwd", "scheme"],
    ["ftp://x", "scheme"],
    ["http://user:secret@api.example.invalid/", "userinfo"],
    ["https://convergence.example.invalid/v1/runs", "own_host"],
    ["http://convergence.example.invalid:8443/v1/runs", "own_host"],
  ])("refuses %s (%s)", (url, rule) => {
    const verdict = checkUrl(url, CLOSED);
    expect(verdict).toMatchObject({ ok: false, rule });
  });

  it("names the host, the rule and how to allow it, and never the path or query", () => {
    const verdict = checkUrl("http://127.0.0.1:9/v1/chat?key=sk-hidden", CLOSED);
    expect(verdict).toEqual({
      ok: false,
      rule: "loopback",
      message:
        "http://127.0.0.1:9 is not allowed for runs on this service: 127.0.0.1 is a loopback address (the machine the service runs on); add 127.0.0.1:9 (or 127.0.0.1) to the RUN_ALLOWED_HOSTS var (comma-separated) to allow it",
    });
    const metadata = checkUrl("http://169.254.169.254/latest/meta-data", CLOSED);
    expect(metadata).toMatchObject({
      message: expect.stringContaining("169.254.169.254 is the cloud metadata address; add 169.254.169.254 to"),
    });
  });

  it("allows a listed host or host:port, in any spelling of its address, and only that", () => {
    const policy = { allowedHosts: hostList("127.0.0.1, api.internal:8443, [::1]:9"), ownHosts: [] };
    expect(checkUrl("http://127.0.0.1:4000/x", policy).ok).toBe(true);
    expect(checkUrl("http://2130706433:4000/x", policy).ok).toBe(true);
    expect(checkUrl("https://api.internal:8443/", policy).ok).toBe(true);
    expect(checkUrl("https://api.internal/", policy)).toMatchObject({ ok: false, rule: "private_name" });
    expect(checkUrl("http://[::1]:9/", policy).ok).toBe(true);
    expect(checkUrl("http://[::1]:10/", policy)).toMatchObject({ ok: false, rule: "loopback" });
    // 127.0.0.1 listed is not every loopback spelling: localhost and ::ffff:127.0.0.1 are other hosts.
    expect(checkUrl("http://localhost:4000/", policy)).toMatchObject({ ok: false, rule: "localhost" });
    expect(checkUrl("http://[::ffff:127.0.0.1]:4000/", policy)).toMatchObject({ ok: false, rule: "loopback" });
    // A credential in the URL is refused whatever the list says.
    expect(checkUrl("http://user:pw@127.0.0.1:4000/", policy)).toMatchObject({ ok: false, rule: "userinfo" });
  });

  it("keeps the service's own host refused when only its name is listed, and allows it when listed exactly", () => {
    const own = { ownHosts: ["127.0.0.1:8787"] };
    const byName = { ...own, allowedHosts: ["127.0.0.1"] };
    expect(checkUrl("http://127.0.0.1:4000/", byName).ok).toBe(true);
    const refused = checkUrl("http://127.0.0.1:8787/v1/runs", byName);
    expect(refused).toMatchObject({ ok: false, rule: "own_host" });
    expect(refused.ok ? "" : refused.message).toMatch(/add 127\.0\.0\.1:8787 to the RUN_ALLOWED_HOSTS var/);
    // Another spelling of the same loopback port is the service too.
    expect(checkUrl("http://2130706433:8787/v1/runs", byName)).toMatchObject({ ok: false, rule: "own_host" });
    expect(checkUrl("http://localhost:8787/v1/runs", { ...own, allowedHosts: ["localhost"] })).toMatchObject({ rule: "own_host" });
    expect(checkUrl("http://127.0.0.1:8787/v1/runs", { ...own, allowedHosts: ["127.0.0.1:8787"] }).ok).toBe(true);
  });

  it("reads RUN_ALLOWED_HOSTS leniently: spaces, case, URLs, and leaves out what is not a host", () => {
    expect(hostList(" Example.INVALID , https://api.example.invalid:8443/x, , not a host, [::1]:9 ")).toEqual([
      "Example.INVALID",
      "https://api.example.invalid:8443/x",
      "[::1]:9",
    ]);
    const policy = { allowedHosts: hostList("https://api.internal:8443/x"), ownHosts: [] };
    expect(checkUrl("https://api.internal:8443/other", policy).ok).toBe(true);
  });
});

/** A fake network: answers by URL, records every request it got. */
function fakeNetwork(routes: Record<string, (init: RequestInit) => Response>) {
  const seen: { url: string; method: string; headers: Record<string, string>; body: unknown }[] = [];
  const fetchFn = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = String(input);
    seen.push({
      url,
      method: init.method ?? "GET",
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body: init.body ?? null,
    });
    expect(init.redirect).toBe("manual");
    const route = routes[url];
    if (!route) throw new TypeError(`fetch failed: ${url}`);
    return route(init);
  }) as typeof fetch;
  return { fetchFn, seen };
}

const redirect =
  (location: string, status = 302) =>
  () =>
    new Response(null, { status, headers: { location } });

describe("guardedFetch", () => {
  it("marks every request with the run header and refuses a redirect to loopback before following it", async () => {
    const net = fakeNetwork({
      "https://api.example.invalid/v1": redirect("http://127.0.0.1:8787/v1/runs", 307),
    });
    const guarded = guardedFetch(CLOSED, { fetch: net.fetchFn, marker: "run_1" });
    const call = guarded("https://api.example.invalid/v1", { method: "POST", headers: { authorization: "Bearer sk-x" }, body: "{}" });
    await expect(call).rejects.toThrow(EgressRefused);
    await expect(call).rejects.toThrow(/^a redirect was refused: http:\/\/127\.0\.0\.1:8787 is not allowed for runs on this service/);
    expect(net.seen).toHaveLength(1);
    expect(net.seen[0]?.headers[RUN_HEADER]).toBe("run_1");
  });

  it("follows allowed redirects itself: 303 becomes a GET, another origin gets no credentials", async () => {
    const net = fakeNetwork({
      "https://api.example.invalid/v1": redirect("/v2", 308),
      "https://api.example.invalid/v2": redirect("https://other.example.invalid/answer", 303),
      "https://other.example.invalid/answer": () => Response.json({ ok: true }),
    });
    const guarded = guardedFetch(CLOSED, { fetch: net.fetchFn, marker: "run_2" });
    const response = await guarded("https://api.example.invalid/v1", {
      method: "POST",
      headers: { authorization: "Bearer sk-x", "x-api-key": "k-123", "content-type": "application/json" },
      body: '{"q":1}',
    });
    expect(await response.json()).toEqual({ ok: true });
    expect(net.seen.map((r) => [r.method, r.url, r.body])).toEqual([
      ["POST", "https://api.example.invalid/v1", '{"q":1}'],
      ["POST", "https://api.example.invalid/v2", '{"q":1}'],
      ["GET", "https://other.example.invalid/answer", null],
    ]);
    expect(net.seen[1]?.headers).toMatchObject({ authorization: "Bearer sk-x", "x-api-key": "k-123" });
    expect(net.seen[2]?.headers).toEqual({ [RUN_HEADER]: "run_2" });
  });

  it("stops after a few redirects", async () => {
    const net = fakeNetwork({ "https://loop.example.invalid/": redirect("https://loop.example.invalid/") });
    const guarded = guardedFetch(CLOSED, { fetch: net.fetchFn, marker: "run_3" });
    await expect(guarded("https://loop.example.invalid/")).rejects.toThrow(/redirected more than 5 times/);
    expect(net.seen).toHaveLength(6);
  });

  it("makes a refused call a final failure of the exchange: no retry, no request sent", async () => {
    const net = fakeNetwork({});
    const guarded = guardedFetch(CLOSED, { fetch: net.fetchFn, marker: "run_4" });
    const delays: number[] = [];
    const exchange = await fetchWithRetry(
      "http://169.254.169.254/latest/meta-data",
      { method: "GET", headers: {} },
      { maxRetries: 3, timeoutSeconds: 5, baseDelayMs: 1, maxDelayMs: 1, fetch: guarded, sleep: async (ms) => void delays.push(ms) },
    );
    expect(exchange).toMatchObject({
      ok: false,
      attempts: 1,
      error: expect.stringMatching(/169\.254\.169\.254 is the cloud metadata address/),
    });
    expect(delays).toEqual([]);
    expect(net.seen).toEqual([]);
  });
});

describe("prepareRun with a run policy", () => {
  const policy: RunPolicy = { secretNames: ["TEAM_KEY"], serviceBindings: [], egress: CLOSED, marker: "run_5" };
  const config = (api: object, evaluation: object = {}) => ({
    api: { name: "policy", ...api },
    search_space: { parameters: { temperature: { type: "float", min: 0, max: 1 } } },
    evaluation: {
      test_cases: { inline: [{ id: "a", input: { prompt: "hi" } }] },
      metrics: { q: { type: "llm_judge", weight: 1 } },
      ...evaluation,
    },
    optimization: { evolution: { population_size: 2, generations: 1 } },
  });

  it("refuses every URL, secret and binding the policy does not allow, by path, before any call", async () => {
    const net = fakeNetwork({});
    const prepared = await prepareRun(
      config(
        {
          endpoint: "https://attacker.example.invalid/v1",
          auth: { type: "bearer", token_env: "OPENAI_API_KEY" },
          models: { small: { endpoint: "http://10.1.2.3/v1" } },
        },
        {
          judge: { endpoint: "http://169.254.169.254/latest", model: "j", token_env: "CONVERGENCE_API_KEY" },
          embeddings: { endpoint: "http://[::1]:8080/v1/embeddings", model: "e" },
          custom_evaluator: { url: "http://localhost:9000/score" },
        },
      ),
      { runPolicy: policy, env: { OPENAI_API_KEY: "sk-live-secret" }, fetch: net.fetchFn },
    );
    expect(prepared.ok).toBe(false);
    const errors = prepared.ok ? [] : prepared.errors;
    expect(errors.map((e) => [e.path, (e as { rule?: string }).rule])).toEqual([
      ["api.auth.token_env", "secret_not_allowed"],
      ["evaluation.judge.token_env", "secret_not_allowed"],
      ["api.models.small.endpoint", "private"],
      ["evaluation.judge.endpoint", "metadata"],
      ["evaluation.embeddings.endpoint", "loopback"],
      ["evaluation.custom_evaluator.url", "localhost"],
    ]);
    expect(errors[0]?.message).toBe(
      "OPENAI_API_KEY is not allowed for runs on this service: add it to the RUN_SECRET_NAMES var (comma-separated) to allow it",
    );
    expect(errors[1]?.message).toMatch(/^CONVERGENCE_API_KEY is Convergence's own setting and never available to runs/);
    expect(JSON.stringify(errors)).not.toContain("sk-live-secret");
    expect(net.seen).toEqual([]);
  });

  it("keeps 'is not set' for an allowed name that has no value, and checks nothing a mock run does not call", async () => {
    const unset = await prepareRun(
      config({ endpoint: "https://api.example.invalid/v1", auth: { type: "bearer", token_env: "TEAM_KEY" } }),
      {
        runPolicy: policy,
        env: {},
      },
    );
    expect(unset.ok ? [] : unset.errors).toEqual([
      { path: "api.auth", message: "environment variable TEAM_KEY is not set (named by api.auth.token_env)" },
    ]);
    const mock = await prepareRun(
      config({ mock_mode: true, endpoint: "http://localhost:8000/v1", auth: { type: "bearer", token_env: "X" } }),
      {
        runPolicy: policy,
      },
    );
    expect(mock.ok).toBe(true);
  });

  it("calls an allowed target through the guard, marked with the run's id", async () => {
    const net = fakeNetwork({
      "https://api.example.invalid/v1": () => Response.json({ choices: [{ message: { content: "hello" } }] }),
    });
    const prepared = await prepareRun(
      config({ endpoint: "https://api.example.invalid/v1", auth: { type: "bearer", token_env: "TEAM_KEY" } }),
      {
        runPolicy: policy,
        env: { TEAM_KEY: "team-secret" },
        fetch: net.fetchFn,
      },
    );
    if (!prepared.ok) throw new Error(JSON.stringify(prepared.errors));
    const response = await prepared.run.target({ temperature: 0.5 }, prepared.run.testCases[0] as never);
    expect(response).toMatchObject({ ok: true, text: "hello" });
    expect(net.seen[0]?.headers).toMatchObject({ [RUN_HEADER]: "run_5", authorization: "Bearer team-secret" });
  });
});
