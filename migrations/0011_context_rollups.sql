-- Contextual choices (src/bandit/contextual.ts): each decision's context as the system's declared features encode
-- it, and the context model's sufficient statistics kept as rewards land, like the rollups of 0008.

-- [[token, value], ...] sorted by token ([token, value, 0] for a display token the model does not read); null for a
-- system without context_features.
ALTER TABLE decisions ADD COLUMN features TEXT;

-- Per (system, UTC day of the decision, agent type, arm), per pair of tokens a <= b of a rewarded decision:
-- xx = Σ x_a x_b; on the diagonal (a = b) xy = Σ x_a y and yy = Σ x_a y² (y the reward), 0 elsewhere. A display
-- token pairs only with itself. Additive: a window of days sums to XᵀX, Xᵀy and yᵀy of its decisions.
CREATE TABLE context_rollups (
  system TEXT NOT NULL,
  day TEXT NOT NULL,
  agent_type TEXT NOT NULL,
  arm_id TEXT NOT NULL,
  a TEXT NOT NULL,
  b TEXT NOT NULL,
  xx REAL NOT NULL DEFAULT 0,
  xy REAL NOT NULL DEFAULT 0,
  yy REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (system, day, agent_type, arm_id, a, b)
) WITHOUT ROWID;

-- As 0008's rollups: cells move only when a row is new with a reward or its reward goes from none to some, so a
-- redelivered decision or reward counts once. Rows are made with NOT EXISTS, then added to, for the reason 0008
-- gives (a trigger's conflict clause would take the policy of the upsert that fired it).
CREATE TRIGGER decisions_context_insert AFTER INSERT ON decisions
WHEN NEW.reward IS NOT NULL AND NEW.features IS NOT NULL
BEGIN
  INSERT INTO context_rollups (system, day, agent_type, arm_id, a, b)
    SELECT NEW.system, substr(NEW.created_at, 1, 10), NEW.agent_type, NEW.arm_id, json_extract(x.value, '$[0]'), json_extract(z.value, '$[0]')
    FROM json_each(NEW.features) AS x, json_each(NEW.features) AS z
    WHERE x.key <= z.key AND (x.key = z.key OR (json_array_length(x.value) = 2 AND json_array_length(z.value) = 2))
      AND NOT EXISTS (SELECT 1 FROM context_rollups AS c WHERE c.system = NEW.system AND c.day = substr(NEW.created_at, 1, 10)
        AND c.agent_type = NEW.agent_type AND c.arm_id = NEW.arm_id AND c.a = json_extract(x.value, '$[0]') AND c.b = json_extract(z.value, '$[0]'));
  UPDATE context_rollups SET
    xx = xx + (SELECT json_extract(x.value, '$[1]') FROM json_each(NEW.features) AS x WHERE json_extract(x.value, '$[0]') = context_rollups.a)
      * (SELECT json_extract(z.value, '$[1]') FROM json_each(NEW.features) AS z WHERE json_extract(z.value, '$[0]') = context_rollups.b),
    xy = xy + (CASE WHEN a = b THEN (SELECT json_extract(x.value, '$[1]') * NEW.reward FROM json_each(NEW.features) AS x
      WHERE json_extract(x.value, '$[0]') = context_rollups.a) ELSE 0 END),
    yy = yy + (CASE WHEN a = b THEN (SELECT json_extract(x.value, '$[1]') * NEW.reward * NEW.reward FROM json_each(NEW.features) AS x
      WHERE json_extract(x.value, '$[0]') = context_rollups.a) ELSE 0 END)
  WHERE system = NEW.system AND day = substr(NEW.created_at, 1, 10) AND agent_type = NEW.agent_type AND arm_id = NEW.arm_id
    AND (a, b) IN (SELECT json_extract(x.value, '$[0]'), json_extract(z.value, '$[0]')
      FROM json_each(NEW.features) AS x, json_each(NEW.features) AS z
      WHERE x.key <= z.key AND (x.key = z.key OR (json_array_length(x.value) = 2 AND json_array_length(z.value) = 2)));
END;

CREATE TRIGGER decisions_context_reward AFTER UPDATE OF reward ON decisions
WHEN OLD.reward IS NULL AND NEW.reward IS NOT NULL AND NEW.features IS NOT NULL
BEGIN
  INSERT INTO context_rollups (system, day, agent_type, arm_id, a, b)
    SELECT NEW.system, substr(NEW.created_at, 1, 10), NEW.agent_type, NEW.arm_id, json_extract(x.value, '$[0]'), json_extract(z.value, '$[0]')
    FROM json_each(NEW.features) AS x, json_each(NEW.features) AS z
    WHERE x.key <= z.key AND (x.key = z.key OR (json_array_length(x.value) = 2 AND json_array_length(z.value) = 2))
      AND NOT EXISTS (SELECT 1 FROM context_rollups AS c WHERE c.system = NEW.system AND c.day = substr(NEW.created_at, 1, 10)
        AND c.agent_type = NEW.agent_type AND c.arm_id = NEW.arm_id AND c.a = json_extract(x.value, '$[0]') AND c.b = json_extract(z.value, '$[0]'));
  UPDATE context_rollups SET
    xx = xx + (SELECT json_extract(x.value, '$[1]') FROM json_each(NEW.features) AS x WHERE json_extract(x.value, '$[0]') = context_rollups.a)
      * (SELECT json_extract(z.value, '$[1]') FROM json_each(NEW.features) AS z WHERE json_extract(z.value, '$[0]') = context_rollups.b),
    xy = xy + (CASE WHEN a = b THEN (SELECT json_extract(x.value, '$[1]') * NEW.reward FROM json_each(NEW.features) AS x
      WHERE json_extract(x.value, '$[0]') = context_rollups.a) ELSE 0 END),
    yy = yy + (CASE WHEN a = b THEN (SELECT json_extract(x.value, '$[1]') * NEW.reward * NEW.reward FROM json_each(NEW.features) AS x
      WHERE json_extract(x.value, '$[0]') = context_rollups.a) ELSE 0 END)
  WHERE system = NEW.system AND day = substr(NEW.created_at, 1, 10) AND agent_type = NEW.agent_type AND arm_id = NEW.arm_id
    AND (a, b) IN (SELECT json_extract(x.value, '$[0]'), json_extract(z.value, '$[0]')
      FROM json_each(NEW.features) AS x, json_each(NEW.features) AS z
      WHERE x.key <= z.key AND (x.key = z.key OR (json_array_length(x.value) = 2 AND json_array_length(z.value) = 2)));
END;

-- The fitted model a system's snapshot carries to its users' objects (workers/db/population.ts refreshes it).
ALTER TABLE systems ADD COLUMN context_model TEXT;
