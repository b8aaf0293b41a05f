#!/usr/bin/env node
// Copies the dashboard's third-party files (uPlot) from node_modules into the worker's static assets, so the
// dashboard works offline and from the worker alone (no CDN). Run by `npm install` (prepare), `npm start` and
// `npm run deploy`; the copies are git-ignored.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(root, "workers/dashboard/public/vendor");
mkdirSync(target, { recursive: true });
for (const file of ["uPlot.iife.min.js", "uPlot.min.css"]) copyFileSync(join(root, "node_modules/uplot/dist", file), join(target, file));
