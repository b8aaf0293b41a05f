/**
 * The layers, as rules `npm run check:layers` enforces (docs/architecture.md, "Layers"):
 *   src/        the platform-neutral core: runs in Node, a browser or a Worker
 *   src/node/   what needs Node (files, evaluator modules, tsx, the CLI): the `convergence/node` entry
 *   workers/    the Cloudflare adapters (bindings, Durable Objects, D1, Queues, the Hono app)
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment:
        "An import cycle makes load order matter and the layers meaningless. The one loop allowed is the Worker's Env type naming its Durable Object classes, which import Env back: workers/env.ts holds only types, erased at compile time, as `wrangler types` writes it.",
      severity: "error",
      from: {},
      to: { circular: true, viaNot: "^workers/env\\.ts$" },
    },
    {
      name: "core-not-to-workers",
      comment: "src/ is the core the SDK and the service share: it never imports the Cloudflare adapters.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^workers/" },
    },
    {
      name: "core-not-to-cloudflare",
      comment: "cloudflare:* modules exist only inside workerd; src/ must run in Node and in any Worker.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^cloudflare:" },
    },
    {
      name: "neutral-core-not-to-node",
      comment: '`import "convergence"` bundles with --platform=neutral: only src/node/ may use Node\'s modules.',
      severity: "error",
      from: { path: "^src/", pathNot: "^src/node/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "neutral-core-not-to-node-layer",
      comment: "The neutral core does not reach up into its Node layer.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/node/" },
      to: { path: "^src/node/" },
    },
    {
      name: "core-not-to-service-packages",
      comment: "SDK users install only yaml and zod: the service's packages and tsx stay out of src/ (tsx: src/node/io.ts only).",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/node/io\\.ts$" },
      to: { path: "node_modules/(hono|@hono|uplot|tsx)/" },
    },
    {
      name: "edge-app-neutral-entry-only",
      comment:
        "The example edge app is a team's Worker: it imports the package by name (its platform-neutral entry, built in dist/), never its sources, convergence/node or Node's modules.",
      severity: "error",
      from: { path: "^examples/edge-app/src/" },
      to: { pathNot: ["^examples/edge-app/", "^dist/src/(?!node/)"] },
    },
    {
      name: "workers-not-to-node-layer",
      comment: "The Worker has no file system: it uses the neutral core, never src/node/.",
      severity: "error",
      from: { path: "^workers/" },
      to: { path: "^src/node/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "default", "types"] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
