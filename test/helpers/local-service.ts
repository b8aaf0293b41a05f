import { afterAll, beforeAll } from "vitest";
import { type LocalService, type LocalServiceOptions, startLocalService } from "../../bench/service.js";

/**
 * The local service (`npm start` on free ports, its own state) for the tests of one file: started before them,
 * stopped after. The answer reads it once it has started.
 */
export function localServiceForFile(options: LocalServiceOptions = {}): () => LocalService {
  let service: LocalService | undefined;
  beforeAll(async () => {
    service = await startLocalService(options);
  }, 90_000);
  afterAll(async () => {
    await service?.stop();
  });
  return () => {
    if (!service) throw new Error("the local service did not start");
    return service;
  };
}
