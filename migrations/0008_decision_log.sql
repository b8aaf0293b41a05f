-- The decision log at scale (docs/architecture.md, "Decision log"): exact hourly rollups kept by triggers as
-- decisions and rewards land, so every total is read from rollups and never from the raw log; the marks that
-- retention and forgetting leave; the database each system's log lives in.

-- Per (system, hour of the decision, agent type, arm). selections, rewarded, reward_sum, reward_sum_sq are the
-- totals; units, unit_sum_sq, unit_n_sq are pooling's per-(user, arm, UTC day) terms (src/bandit/pooling.ts),
-- added as each reward's change to its unit, so a window of whole days sums to the exact population statistics.
-- No user ids: forgetting a user leaves these as they are.
CREATE TABLE decision_rollups (
  system TEXT NOT NULL,
  hour TEXT NOT NULL,
  agent_type TEXT NOT NULL,
  arm_id TEXT NOT NULL,
  selections INTEGER NOT NULL DEFAULT 0,
  rewarded INTEGER NOT NULL DEFAULT 0,
  reward_sum REAL NOT NULL DEFAULT 0,
  reward_sum_sq REAL NOT NULL DEFAULT 0,
  units INTEGER NOT NULL DEFAULT 0,
  unit_sum_sq REAL NOT NULL DEFAULT 0,
  unit_n_sq REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (system, hour, agent_type, arm_id)
) WITHOUT ROWID;

-- A reward's change to its (user, arm, day) unit, computed by the user's ArmsObject (the one place that knows the
-- unit's earlier rewards): 1 when it is the unit's first reward, the change of (sum)^2/count, the change of count^2.
ALTER TABLE decisions ADD COLUMN unit_new INTEGER;
ALTER TABLE decisions ADD COLUMN unit_sum_sq REAL;
ALTER TABLE decisions ADD COLUMN unit_n_sq REAL;

-- (A trigger's INSERT OR IGNORE would take the conflict policy of the upsert that fired it, so rows are made with
-- NOT EXISTS.) Rollups move only when a row is new or its reward goes from none to some: a redelivered decision or reward (the
-- upsert in workers/db/decisions.ts changes nothing then) counts once. Deleting rows (retention, forgetting) does
-- not touch them.
CREATE TRIGGER decisions_rollup_insert AFTER INSERT ON decisions
BEGIN
  INSERT INTO decision_rollups (system, hour, agent_type, arm_id)
    SELECT NEW.system, substr(NEW.created_at, 1, 13), NEW.agent_type, NEW.arm_id
    WHERE NOT EXISTS (SELECT 1 FROM decision_rollups WHERE system = NEW.system AND hour = substr(NEW.created_at, 1, 13)
      AND agent_type = NEW.agent_type AND arm_id = NEW.arm_id);
  UPDATE decision_rollups SET
    selections = selections + 1,
    rewarded = rewarded + (NEW.reward IS NOT NULL),
    reward_sum = reward_sum + COALESCE(NEW.reward, 0),
    reward_sum_sq = reward_sum_sq + COALESCE(NEW.reward * NEW.reward, 0),
    units = units + COALESCE(NEW.unit_new, 0),
    unit_sum_sq = unit_sum_sq + COALESCE(NEW.unit_sum_sq, 0),
    unit_n_sq = unit_n_sq + COALESCE(NEW.unit_n_sq, 0)
  WHERE system = NEW.system AND hour = substr(NEW.created_at, 1, 13) AND agent_type = NEW.agent_type AND arm_id = NEW.arm_id;
END;

CREATE TRIGGER decisions_rollup_reward AFTER UPDATE OF reward ON decisions
WHEN OLD.reward IS NULL AND NEW.reward IS NOT NULL
BEGIN
  INSERT INTO decision_rollups (system, hour, agent_type, arm_id)
    SELECT NEW.system, substr(NEW.created_at, 1, 13), NEW.agent_type, NEW.arm_id
    WHERE NOT EXISTS (SELECT 1 FROM decision_rollups WHERE system = NEW.system AND hour = substr(NEW.created_at, 1, 13)
      AND agent_type = NEW.agent_type AND arm_id = NEW.arm_id);
  UPDATE decision_rollups SET
    rewarded = rewarded + 1,
    reward_sum = reward_sum + NEW.reward,
    reward_sum_sq = reward_sum_sq + NEW.reward * NEW.reward,
    units = units + COALESCE(NEW.unit_new, 0),
    unit_sum_sq = unit_sum_sq + COALESCE(NEW.unit_sum_sq, 0),
    unit_n_sq = unit_n_sq + COALESCE(NEW.unit_n_sq, 0)
  WHERE system = NEW.system AND hour = substr(NEW.created_at, 1, 13) AND agent_type = NEW.agent_type AND arm_id = NEW.arm_id;
END;

-- The log as it stands: each (user, arm, day) unit's terms in the hour of its first rewarded decision.
INSERT INTO decision_rollups (system, hour, agent_type, arm_id, selections, rewarded, reward_sum, reward_sum_sq, units, unit_sum_sq, unit_n_sq)
SELECT system, hour, agent_type, arm_id, SUM(sel), SUM(rw), SUM(rs), SUM(rss), SUM(u), SUM(usq), SUM(unsq)
FROM (
  SELECT system, substr(created_at, 1, 13) AS hour, agent_type, arm_id, COUNT(*) AS sel, COUNT(reward) AS rw,
    COALESCE(SUM(reward), 0) AS rs, COALESCE(SUM(reward * reward), 0) AS rss, 0 AS u, 0 AS usq, 0 AS unsq
  FROM decisions GROUP BY system, substr(created_at, 1, 13), agent_type, arm_id
  UNION ALL
  SELECT system, MIN(substr(created_at, 1, 13)), agent_type, arm_id, 0, 0, 0, 0, 1,
    SUM(reward) * SUM(reward) / COUNT(*), COUNT(*) * COUNT(*)
  FROM decisions WHERE reward IS NOT NULL GROUP BY system, agent_type, arm_id, user_id, substr(created_at, 1, 10)
)
GROUP BY system, hour, agent_type, arm_id;

-- Retention (workers/db/archive.ts): decisions made before `archived_before` are in R2, not here; a late write
-- of one is refused, so nothing is archived twice or counted again.
CREATE TABLE decision_archive_marks (
  system TEXT PRIMARY KEY,
  archived_before TEXT NOT NULL
);

-- Forgotten users (DELETE /v1/systems/{system}/users/{user_id}): their decisions made before `forgotten_at` are
-- refused if they arrive late, and archive reads drop them.
CREATE TABLE forgotten_users (
  system TEXT NOT NULL,
  user_id TEXT NOT NULL,
  forgotten_at TEXT NOT NULL,
  PRIMARY KEY (system, user_id)
);

-- A user's decisions across agent types (forgetting), and the system's log newest first (paging, archiving).
CREATE INDEX decisions_by_system_user ON decisions (system, user_id);
DROP INDEX decisions_by_arm;

-- The D1 binding that holds this system's decision log, chosen when the system is created and kept after
-- (workers/db/log-database.ts). NULL: DB.
ALTER TABLE systems ADD COLUMN log_database TEXT;
