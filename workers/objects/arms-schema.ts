/**
 * The ArmsObject's SQLite schema, versioned. The outbox costs a select nothing extra: decisions above the flushed
 * row number (meta `flushed_seq`) are new to D1, and `rewarded` lists the rows whose reward D1 has not seen. A
 * decision's id carries its row number, so it is found by primary key. `snapshot` holds the arms' posteriors at
 * decision time compactly, as [arm_id, alpha, beta, sampled value, pulls] rows (pulls since offline evaluation).
 *
 * Versioned (see schema.ts).
 */
import { migrate } from "./schema";

const STEPS: readonly string[] = [
  `CREATE TABLE arms (
     arm_id TEXT PRIMARY KEY,
     name TEXT,
     params TEXT NOT NULL,
     alpha REAL NOT NULL,
     beta REAL NOT NULL,
     total_pulls INTEGER NOT NULL,
     total_reward REAL NOT NULL,
     avg_reward REAL,
     mean_estimate REAL,
     metadata TEXT NOT NULL,
     position INTEGER NOT NULL
   );
   CREATE TABLE decisions (
     seq INTEGER PRIMARY KEY,
     decision_id TEXT NOT NULL,
     arm_id TEXT NOT NULL,
     params TEXT NOT NULL,
     selection_probability REAL,
     snapshot TEXT NOT NULL,
     context TEXT,
     created_at INTEGER NOT NULL,
     reward REAL,
     engagement REAL,
     grading REAL,
     reward_source TEXT,
     rewarded_at INTEGER,
     update_metadata TEXT
   );
   CREATE TABLE rewarded (seq INTEGER PRIMARY KEY);`,
  // A reward's change to its (user, arm, UTC day) unit of pooling's population statistics (migration 0008 of D1).
  `ALTER TABLE decisions ADD COLUMN unit_new INTEGER;
   ALTER TABLE decisions ADD COLUMN unit_sum_sq REAL;
   ALTER TABLE decisions ADD COLUMN unit_n_sq REAL;
   CREATE INDEX decisions_by_arm_time ON decisions (arm_id, created_at);`,
  // The context as the system's declared features encode it (src/bandit/contextual.ts; migration 0011 of D1).
  "ALTER TABLE decisions ADD COLUMN features TEXT;",
];

export const SCHEMA_VERSION = STEPS.length;

export function migrateArms(storage: DurableObjectStorage): void {
  migrate(storage, STEPS);
}
