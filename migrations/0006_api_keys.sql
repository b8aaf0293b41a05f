-- Scoped API keys (workers/db/keys.ts). Only a SHA-256 hash of each key is kept: the key itself is shown once, when
-- it is created. A revoked key keeps its row (revoked_at set) so the list says what was revoked and when.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  key_hash TEXT NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('admin', 'runtime')),
  -- JSON array of system names, or ["*"] for every system.
  systems TEXT NOT NULL,
  name TEXT,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
