/**
 * The ArmsObject's SQLite schema, versioned. The outbox costs a select nothing extra: decisions above the flushed
 * row number (meta `flushed_seq`) are new to D1, and `rewarded` lists the rows whose reward D1 has not seen. A
 * decision's id carries its row number, so it is found by primary key. `snapshot` holds the arms' posteriors at
 * decision time compactly, as [arm_id, alpha, beta, sampled value] rows.
 *
 * Versioned: each step runs once, in order, inside a transaction, and the
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
