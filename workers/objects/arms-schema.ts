/**
 * The ArmsObject's SQLite schema, versioned: each step runs once, in order, inside a transaction, and the
 * version is stored with the data, so an object created by an older deployment upgrades itself on first use.
 */
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
     decision_id TEXT PRIMARY KEY,
     arm_id TEXT NOT NULL,
     params TEXT NOT NULL,
     selection_probability REAL,
     arms_snapshot TEXT NOT NULL,
     context TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     reward REAL,
     engagement REAL,
     grading REAL,
     reward_source TEXT,
     rewarded_at INTEGER,
     update_metadata TEXT
   );
   CREATE INDEX decisions_pending ON decisions (created_at) WHERE reward IS NULL;
   CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, decision_id TEXT NOT NULL);`,
];

export const SCHEMA_VERSION = STEPS.length;

export function migrate(storage: DurableObjectStorage): void {
  const sql = storage.sql;
  sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  const row = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").toArray()[0];
  const current = row ? Number(row.value) : 0;
  for (let version = current; version < STEPS.length; version++) {
    storage.transactionSync(() => {
      sql.exec(STEPS[version] as string);
      sql.exec(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        String(version + 1),
      );
    });
  }
}
