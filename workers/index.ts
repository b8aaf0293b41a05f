import type { Env } from "./env";
import { app } from "./api/app";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
