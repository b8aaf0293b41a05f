-- The system summary totals each arm's decisions and rewards: a covering index, so it reads the index only.
CREATE INDEX decisions_by_arm ON decisions (system, arm_id, reward);
