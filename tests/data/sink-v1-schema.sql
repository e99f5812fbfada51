-- The tables the first version of ledger-sink made (SQLite; in PostgreSQL INTEGER was
-- BIGINT and BLOB was BYTEA): sink_test.sh and sink_pg_test.sh build such a database
-- to check that ledger-sink refuses it, then migrates it.
CREATE TABLE events (seq INTEGER PRIMARY KEY, kind TEXT, stream TEXT, version INTEGER, occurred_at INTEGER, recorded_at INTEGER, actor TEXT, event_id TEXT, hash TEXT, raw BLOB);
CREATE TABLE organisations (seq INTEGER PRIMARY KEY, occurred_at INTEGER, event TEXT, org_id TEXT, name TEXT, kind TEXT, parent_id TEXT, region INTEGER, worker_group TEXT, platform TEXT, admits_members INTEGER, legal_person INTEGER, dissolve_reason TEXT, merged_into TEXT);
CREATE TABLE members (seq INTEGER PRIMARY KEY, occurred_at INTEGER, event TEXT, member_id TEXT, org_id TEXT, join_path TEXT, channel TEXT, worker_group TEXT, employment TEXT, platform TEXT, region INTEGER, real_name INTEGER, affiliation_kind TEXT, end_reason TEXT);
CREATE TABLE transfers (seq INTEGER PRIMARY KEY, occurred_at INTEGER, member_id TEXT, from_org TEXT, to_org TEXT, reason TEXT, note TEXT);
CREATE TABLE dues (seq INTEGER PRIMARY KEY, occurred_at INTEGER, event TEXT, member_id TEXT, amount_fen INTEGER, period_from INTEGER, period_to INTEGER, method TEXT, waiver_reason TEXT, paid_seq INTEGER, receipt TEXT);
CREATE TABLE services (seq INTEGER PRIMARY KEY, occurred_at INTEGER, kind TEXT, org_id TEXT, member_id TEXT, quantity INTEGER, amount_fen INTEGER, station_id TEXT);
CREATE TABLE activities (seq INTEGER PRIMARY KEY, occurred_at INTEGER, kind TEXT, org_id TEXT, participants INTEGER, enterprises_reached INTEGER, title TEXT);
CREATE TABLE corrections (seq INTEGER PRIMARY KEY, occurred_at INTEGER, action TEXT, target_seq INTEGER, reason TEXT);
CREATE TABLE sink_checkpoint (id INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL);
