/** scripts/edge-app.mjs: the example edge app, started for `npm run edge-app`, tests and benchmarks. */
import type { ChildProcess } from "node:child_process";

export declare const APP_DIR: string;
export declare const SYSTEM: string;
export declare function ensureSystem(url: string, adminKey: string): Promise<boolean>;
export declare function runtimeKey(url: string, adminKey: string, current: string | null): Promise<string>;
export declare function keyInFile(file: string): string | null;
export declare function writeKeyFile(file: string, key: string): void;
export interface EdgeApp {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}
export declare function startEdgeApp(options: {
  port: number | string;
  envFile?: string;
  vars?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<EdgeApp>;
