-- Runtime loop: systems' configs and the decision log.
CREATE TABLE systems (
  name TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE decisions (
  decision_id TEXT PRIMARY KEY,
  system TEXT NOT NULL,
  agent_type TEXT NOT NULL,
  user_id TEXT NOT NULL,
  arm_id TEXT NOT NULL,
  params TEXT NOT NULL,
  selection_probability REAL,
  context TEXT NOT NULL,
  created_at TEXT NOT NULL,
  reward REAL,
  engagement REAL,
  grading REAL,
  reward_source TEXT,
  rewarded_at TEXT,
  update_metadata TEXT
);

CREATE INDEX decisions_by_system_time ON decisions (system, created_at);
CREATE INDEX decisions_by_user ON decisions (system, agent_type, user_id);
