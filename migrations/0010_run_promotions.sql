-- Which systems a run's configs were promoted into, so GET /v1/runs?system=S lists them beside the runs scheduled
-- for S. run_created_at copies the run's, so the listing pages through both by the same keyset. Promotions made
-- before this table are recovered from the arms that name their run.
CREATE TABLE run_promotions (
  run_id TEXT NOT NULL,
  system TEXT NOT NULL,
  run_created_at TEXT NOT NULL,
  promoted_at TEXT NOT NULL,
  PRIMARY KEY (run_id, system)
);
CREATE INDEX run_promotions_by_system_time_id ON run_promotions (system, run_created_at, run_id);
INSERT OR IGNORE INTO run_promotions (run_id, system, run_created_at, promoted_at)
SELECT DISTINCT runs.run_id, systems.name, runs.created_at, systems.updated_at
FROM systems, json_each(systems.config, '$.default_arms') AS arm
JOIN runs ON runs.run_id = json_extract(arm.value, '$.source.run_id');
