import { app } from "./api/app";
import type { Env } from "./env";

export { ArmsObject } from "./objects/arms-object";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
