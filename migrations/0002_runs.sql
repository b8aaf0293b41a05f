-- Optimization runs: the run, its candidates, and every (candidate, test case) evaluation, once.
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY,
  api_name TEXT NOT NULL,
  status TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  seed INTEGER NOT NULL,
  trigger TEXT NOT NULL,
  system TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  finished_at TEXT,
  best_score REAL,
  best_config TEXT,
  target_calls INTEGER NOT NULL DEFAULT 0,
  generations_run INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  error TEXT
);
CREATE INDEX runs_by_time ON runs (created_at);
CREATE INDEX runs_by_system ON runs (system, created_at);

CREATE TABLE candidates (
  run_id TEXT NOT NULL,
  generation INTEGER NOT NULL,
  position INTEGER NOT NULL,
  hash TEXT NOT NULL,
  params TEXT NOT NULL,
  score REAL NOT NULL,
  complete INTEGER NOT NULL,
  dropped INTEGER NOT NULL,
  metrics TEXT NOT NULL,
  PRIMARY KEY (run_id, generation, position)
);

CREATE TABLE evaluations (
  run_id TEXT NOT NULL,
  hash TEXT NOT NULL,
  test_case_id TEXT NOT NULL,
  generation INTEGER NOT NULL,
  score REAL NOT NULL,
  success INTEGER NOT NULL,
  failure TEXT,
  error TEXT,
  metrics TEXT NOT NULL,
  latency_ms REAL NOT NULL,
  cost_usd REAL NOT NULL,
  evaluation_cost_usd REAL NOT NULL,
  attempts INTEGER NOT NULL,
  response_excerpt TEXT NOT NULL,
  PRIMARY KEY (run_id, hash, test_case_id)
);
