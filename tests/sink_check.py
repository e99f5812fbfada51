#!/usr/bin/env python3
"""sink_check.py — what tests/sink_test.sh asks of a sink database.

  sink_check.py dump TARGET [--source S]
      Every table (only source S's rows with --source) of the sink, ordered by its key, in one canonical text (times
      as ISO 8601 UTC, booleans 0/1, bytes as hex), so that a SQLite and a
      PostgreSQL database, or a killed-and-restarted load and a clean one, can
      be compared byte for byte.

  sink_check.py answers TARGET --source S --doc docs/SINK.md --answers FILE
      Only runs the example queries and writes their answers.

  sink_check.py check TARGET --source S --ledgerctl PATH --url URL --doc docs/SINK.md
                 --plan PLAN --period YYYYMM [--at TIME] [--sample N] [--answers FILE]
      Runs every example query of docs/SINK.md (```sql NAME [dialect]) on TARGET,
      with 'ledger' replaced by the source (and the period and the time asked
      about by --period and --at, YYYY-MM-DDTHH:MM:SSZ), and compares the answers with the
      daemon's projections: coverage per city (members, real name, dues paid,
      groups and estimates, units; members at a date after the last event),
      new members per year and city and the plan's other targets (progress;
      joins per month, services per kind), transfers between cities and one
      member's (transfers), the checkpoint (head), the dues kept against the
      members' views, and a sample of members (every member a correction or refund
      touched, and N more) against `ledgerctl member`. --answers writes the
      queries' answers, to compare the two databases' answers.

TARGET is a SQLite file, or a PostgreSQL URL (read with psql). Exit status 1
with the differences on stderr when anything differs.
"""
import argparse
import collections
import json
import re
import sqlite3
import subprocess
import sys

NULL = "\\N"


class DB:
    def __init__(self, target):
        self.target = target
        self.pg = target.startswith("postgres")
        self.con = None if self.pg else sqlite3.connect(target)

    def rows(self, sql):
        if not self.pg:
            return [tuple(canon(v) for v in r) for r in self.con.execute(sql).fetchall()]
        out = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-P", "null=" + NULL,
             "-F", "\x1f", "-R", "\x1e", "-c", "SET TimeZone = 'UTC'", "-c", sql, self.target],
            check=True, capture_output=True, text=True).stdout
        return [tuple(r.strip("\n").split("\x1f")) for r in out.split("\x1e") if r.strip("\n")]

    def many(self, sqls):
        """The rows of each query, in one psql run for PostgreSQL."""
        if not self.pg:
            return [self.rows(q) for q in sqls]
        args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-P", "null=" + NULL,
                "-F", "\x1f", "-R", "\x1e", "-c", "SET TimeZone = 'UTC'"]
        for i, q in enumerate(sqls):
            args += ["-c", f"SELECT '@@{i}'", "-c", q]
        out = subprocess.run(args + [self.target], check=True, capture_output=True,
                             text=True).stdout
        # psql ends each result with a newline, not the record separator.
        parts = re.split(r"(?:^|\n)@@\d+\n", out)[1:]
        return [[tuple(r.split("\x1f")) for r in part.rstrip("\n").split("\x1e") if r]
                for part in parts]

    def columns(self, table):
        """(name, kind) of each column: kind time, bool, blob or plain."""
        if not self.pg:
            cols = self.con.execute(f"PRAGMA table_info({table})").fetchall()
            return [(c[1], "blob" if c[2] == "BLOB" else "plain") for c in cols]
        if not hasattr(self, "cols"):
            kinds = {"timestamp with time zone": "time", "boolean": "bool", "bytea": "blob"}
            self.cols = collections.defaultdict(list)
            for t, c, k in self.rows(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"):
                self.cols[t].append((c, kinds.get(k, "plain")))
        return self.cols[table]

    def expr(self, col, kind):
        if kind == "blob":
            return f"encode({col}, 'hex')" if self.pg else f"lower(hex({col}))"
        if kind == "time" and self.pg:
            return (f"to_char({col} AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')")
        if kind == "bool" and self.pg:
            return f"{col}::int"
        return col


def canon(v):
    if v is None:
        return NULL
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


TABLES = ["events", "corrections", "organisations", "org_tree", "members", "memberships",
          "affiliations", "transfers", "dues", "services", "activities", "funds", "stations",
          "workforce", "releases", "sink_checkpoint", "sink_schema", "sink_redo"]


def dump(db, source=None):
    queries = []
    for t in TABLES:
        cols = db.columns(t)
        sel = ", ".join(db.expr(c, k) for c, k in cols)
        order = ", ".join(str(i + 1) for i in range(min(3, len(cols))))
        where = f" WHERE source = '{source}'" if source and cols[0][0] == "source" else ""
        queries.append(f"SELECT {sel} FROM {t}{where} ORDER BY {order}")
    for t, rows in zip(TABLES, db.many(queries)):
        print(f"-- {t}")
        for r in rows:
            print("\t".join(r))


# --------------------------------------------------------------------------

problems = []


def differ(what, got, want):
    problems.append(f"{what}: sink {got!r}, daemon {want!r}")


# The time the example queries ask about, as docs/SINK.md writes it, and as
# --at gives it (UTC, to the second).
AT_SQL = "'2026-12-31T16:00:00.000000+00:00'"
# The member of the member-transfers example (replaced by the one with most).
DOC_MEMBER = "JS-M0002710"


def at_sql(at):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)Z", at)
    if not m:
        sys.exit(f"sink_check: --at {at!r} is not YYYY-MM-DDTHH:MM:SSZ")
    return f"'{m.group(1)}.000000+00:00'"


def iso_time(v):
    """A time as psql shows it (TimeZone UTC) in SQLite's form; others as they are."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))?\+00", v)
    return f"{m.group(1)}T{m.group(2)}.{(m.group(3) or '').ljust(6, '0')}+00:00" if m else v


def ctl(args, a):
    out = subprocess.run([a.ledgerctl, "--url", a.url, "--json", "--timeout", "30000"] + args,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def doc_queries(path, pg):
    """{name: sql} of the ```sql NAME [dialect] blocks, for this dialect."""
    text = open(path, encoding="utf-8").read()
    out = {}
    for m in re.finditer(r"```sql ([\w-]+)(?: (sqlite|postgresql))?\n(.*?)```", text, re.S):
        name, dialect, sql = m.group(1), m.group(2), m.group(3)
        if dialect and (dialect == "postgresql") != pg:
            continue
        out[name] = sql
    return out


def num(v):
    return 0 if v == NULL else int(float(v))


def run_queries(db, a):
    """Runs the example queries; writes their answers to --answers."""
    queries = doc_queries(a.doc, db.pg)
    want = {"coverage-by-city", "coverage-by-city-and-group", "units-by-city",
            "new-members-per-month", "transfers-between-cities", "condolence-visits-per-year",
            "members-per-source", "corrected-events", "sink-caught-up", "members-at-date",
            "joins-by-path-and-channel", "member-transfers", "dues-per-city-and-month",
            "services-per-year-and-city", "pending-transfers"}
    if set(queries) != want:
        problems.append(f"docs/SINK.md example queries: {sorted(queries)}, wanted {sorted(want)}")
    # The member of member-transfers: the one with the most transfers.
    top = db.rows(f"SELECT member_id FROM transfers WHERE source = '{a.source}' "
                  "GROUP BY member_id ORDER BY count(*) DESC, member_id LIMIT 1")
    a.member = top[0][0] if top else "none"
    answers = {}
    for name, sql in sorted(queries.items()):
        sql = (sql.replace("'ledger'", f"'{a.source}'").replace("202612", str(a.period))
               .replace(AT_SQL, at_sql(a.at)).replace(DOC_MEMBER, a.member))
        answers[name] = db.rows(sql)
    if a.answers:
        with open(a.answers, "w", encoding="utf-8") as f:
            for name, rows in sorted(answers.items()):
                f.write(f"-- {name}\n")
                for r in rows:
                    f.write("\t".join(iso_time(v) for v in r) + "\n")
    return answers


def check(db, a):
    answers = run_queries(db, a)
    province = db.rows(f"SELECT org_id, region FROM organisations WHERE source = '{a.source}' "
                       "AND kind = 'FEDERATION_PROVINCE'")
    if len(province) != 1:
        problems.append(f"source {a.source}: {len(province)} province federations")
        return
    prov_id, prov_region = province[0][0], int(province[0][1])

    # Coverage per city.
    cov = ctl(["coverage", prov_id, "--depth", "1", "--period", str(a.period), "--at", a.at],
              a)["orgs"]
    cities = {o["org_id"]: o for o in cov if o.get("depth") == 1}
    got = {r[0]: r for r in answers["coverage-by-city"]}
    if sorted(got) != sorted(cities):
        differ("coverage-by-city: cities", sorted(got), sorted(cities))
    for cid, o in cities.items():
        r = got.get(cid)
        if not r:
            continue
        for i, f in ((2, "members"), (3, "real_name"), (4, "dues_current")):
            if num(r[i]) != o.get(f, 0):
                differ(f"coverage-by-city {cid} {f}", num(r[i]), o.get(f, 0))
    groups = {(r[0], r[1]): r for r in answers["coverage-by-city-and-group"]}
    daemon_groups = {}
    for cid, o in cities.items():
        for g in o.get("by_group", []):
            if g.get("members", 0):
                daemon_groups[(cid, g["worker_group"])] = g
    if sorted(groups) != sorted(daemon_groups):
        differ("coverage-by-city-and-group: (city, group) pairs", sorted(groups),
               sorted(daemon_groups))
    for k, g in daemon_groups.items():
        r = groups.get(k)
        if r and (num(r[2]) != g["members"] or
                  (r[3] != NULL and num(r[3])) != g.get("estimated_workers", False)):
            differ(f"coverage-by-city-and-group {k}", r[2:4],
                   (g["members"], g.get("estimated_workers")))
    units = {r[0]: r for r in answers["units-by-city"]}
    for cid, o in cities.items():
        r = units.get(cid, (cid, "0", "0"))
        if (num(r[1]), num(r[2])) != (o.get("units", 0), o.get("units_covered", 0)):
            differ(f"units-by-city {cid}", (num(r[1]), num(r[2])),
                   (o.get("units", 0), o.get("units_covered", 0)))
    # Affiliations into each city's subtree (no doc query; the table's use).
    for cid, o in cities.items():
        n = num(db.rows(
            f"SELECT count(*) FROM affiliations f JOIN org_tree t ON t.source = f.source AND "
            f"t.org_id = f.org_id WHERE f.source = '{a.source}' AND t.ancestor_id = '{cid}' AND "
            "f.ended_at IS NULL")[0][0])
        if n != o.get("affiliated", 0):
            differ(f"affiliated into {cid}", n, o.get("affiliated", 0))

    # Plan progress: new members, and every service and activity target.
    rep = ctl(["progress", a.plan], a)
    plan = rep["plan"]
    city_codes = [c["code"] for c in plan["cities"]]
    daemon_rows = {(r["target_id"], r.get("year", 0), r["region"]): r.get("actual", 0)
                   for r in rep["rows"]}
    per_month = collections.Counter()
    for month, city, n in answers["new-members-per-month"]:
        year = int(month[:4])
        if plan["from_year"] <= year <= plan["to_year"]:
            per_month[(year, int(city))] += int(n)
    for t in plan["targets"]:
        sink = collections.Counter()
        if t["event"] == "member_joined":
            if t["measure"] != "count":
                continue
            for (year, city), n in per_month.items():
                sink[year, city] += n
        elif t["event"] in ("service_delivered", "activity_held"):
            for (year, city), n in target_figures(db, a.source, t, plan):
                sink[year, city] += n
        else:
            continue
        for (tid, year, region), actual in daemon_rows.items():
            if tid != t["id"]:
                continue
            if region == prov_region:
                mine = sum(n for (y, c), n in sink.items() if not year or y == year)
            elif region in city_codes:
                mine = sum(n for (y, c), n in sink.items()
                           if c == region and (not year or y == year))
            else:
                continue
            if mine != actual:
                differ(f"progress {tid} year {year} region {region}", mine, actual)

    # Caught up: the checkpoint is the ledger's head.
    head = ctl(["head"], a)
    cu = {r[0]: r for r in answers["sink-caught-up"]}
    if a.source not in cu or int(cu[a.source][1]) != head["seq"]:
        differ("sink-caught-up", cu.get(a.source), head["seq"])
    # Members at a date after the last event: the ledger's active members.
    at_city = collections.Counter()
    for cid, _, n in answers["members-at-date"]:
        at_city[cid] += int(n)
    for cid, o in cities.items():
        if at_city.get(cid, 0) != o.get("members", 0):
            differ(f"members-at-date {cid}", at_city.get(cid, 0), o.get("members", 0))
    # Joins: the new members of the plan's years are the province's
    # new-members-yearly (an average a year: judged on the plan's total).
    new_year = collections.Counter()
    for month, _, _, _, n in answers["joins-by-path-and-channel"]:
        new_year[int(month[:4])] += int(n)
    in_plan = sum(n for y, n in new_year.items() if plan["from_year"] <= y <= plan["to_year"])
    for (tid, year, region), actual in daemon_rows.items():
        if tid == "new-members-yearly" and region == prov_region and not year:
            if in_plan != actual:
                differ("joins-by-path-and-channel new members of the plan", in_plan, actual)
    # Services: per year, city and kind, the plan's service targets on kind alone.
    svc = collections.Counter()
    for year, city, kind, _, qty, _, fen in answers["services-per-year-and-city"]:
        svc[(int(year), int(city), kind, "quantity")] += num(qty)
        svc[(int(year), int(city), kind, "amount_fen")] += num(fen)
    svc_checked = 0
    for t in plan["targets"]:
        where = plan_filter(t)
        m = t["measure"]
        if (t["event"] != "service_delivered" or set(where) != {"kind"} or
                len(where["kind"]) != 1 or m not in ("sum:quantity", "sum:amount_fen")):
            continue
        kind = where["kind"][0].upper()
        svc_checked += 1
        for (year, city), n in target_figures(db, a.source, t, plan):
            if svc.get((year, city, kind, m[4:]), 0) != n:
                differ(f"services-per-year-and-city {year} {city} {kind} {m}",
                       svc.get((year, city, kind, m[4:]), 0), n)
    # Dues: what the cities kept is what their members' views say they paid
    # (members compared one by one with the ledger below), less the dues of
    # organisations under no city.
    kept = sum(num(c) - num(r) for _, _, c, r, _ in answers["dues-per-city-and-month"])
    members_paid = num(db.rows(f"SELECT sum(dues_paid_fen) FROM members WHERE source = "
                               f"'{a.source}'")[0][0])
    outside = num(db.rows(
        f"SELECT coalesce(sum(d.amount_fen), 0) FROM dues d WHERE d.source = '{a.source}' AND "
        "d.event <> 'waived' AND NOT EXISTS (SELECT 1 FROM org_tree t JOIN organisations c ON "
        "c.source = t.source AND c.org_id = t.ancestor_id AND c.kind = 'FEDERATION_CITY' "
        "WHERE t.source = d.source AND t.org_id = d.org_id)")[0][0])
    if kept + outside != members_paid:
        differ("dues-per-city-and-month kept + outside the cities", kept + outside, members_paid)

    # Transfers between cities.
    tree = ctl(["coverage", prov_id, "--depth", "16"], a)["orgs"]
    parent = {o["org_id"]: o.get("parent_id") for o in tree}

    def city_of(org):
        while org and org not in cities:
            org = parent.get(org)
        return org

    matrix = collections.Counter()
    for cid in cities:
        lst = ctl(["transfers", "--org", cid, "--limit", "10000"], a)
        if lst.get("truncated"):
            problems.append(f"transfers of {cid}: more than 10000")
        for x in lst.get("transfers", []):
            if x["direction"] == "OUT_OF":
                to = city_of(x["to_org"])
                if to:
                    matrix[cid, to] += 1
    got = {(r[0], r[1]): int(r[2]) for r in answers["transfers-between-cities"]}
    if got != dict(matrix):
        differ("transfers-between-cities", sorted(got.items()), sorted(matrix.items()))
    # One member's transfers, against the province's list.
    lst = ctl(["transfers", "--org", prov_id, "--limit", "10000"], a)
    want_m = sorted((str(x["seq"]), x["from_org"], x["to_org"], x["reason"])
                    for x in lst.get("transfers", []) if x["member_id"] == a.member)
    got_m = [(r[0], r[2], r[3], r[4]) for r in answers["member-transfers"]]
    if sorted(got_m) != want_m or not want_m:
        differ(f"member-transfers {a.member}", got_m, want_m)
    # The releases waiting for acceptance, against the province's list of them.
    lst = ctl(["transfers", "--org", prov_id, "--pending", "--limit", "10000"], a)
    want_p = sorted((str(x["seq"]), x["member_id"], x["from_org"], x["to_org"], x["reason"])
                    for x in lst.get("transfers", []))
    got_p = sorted((r[0], r[1], r[2], r[3], r[4]) for r in answers["pending-transfers"])
    if got_p != want_p:
        differ("pending-transfers", got_p, want_p)
    if svc_checked < 4:
        problems.append(f"services-per-year-and-city: {svc_checked} plan targets compared")

    # Members, one by one.
    sample = [r[0] for r in db.rows(
        f"SELECT DISTINCT substr(e.stream, 8) FROM corrections c JOIN events e ON "
        f"e.source = c.source AND e.seq = c.target_seq WHERE c.source = '{a.source}' AND "
        "e.stream LIKE 'member/%' UNION SELECT DISTINCT member_id FROM dues WHERE "
        f"source = '{a.source}' AND event = 'refunded'")]
    sample += [r[0] for r in db.rows(
        f"SELECT member_id FROM members WHERE source = '{a.source}' ORDER BY last_seq % 97, "
        f"member_id LIMIT {a.sample}")]
    cols = [c for c, _ in db.columns("members")]
    ids = sorted(set(sample))
    mine = {}
    if ids:
        for r in db.rows(f"SELECT * FROM members WHERE source = '{a.source}' AND member_id IN "
                         f"({', '.join(repr(i) for i in ids)})"):
            mine[r[1]] = dict(zip(cols, r))
    checked = 0
    for mid in ids:
        try:
            m = ctl(["member", mid], a)
        except subprocess.CalledProcessError:
            m = None
        if mid not in mine or not m:
            if mid in mine or m:
                differ(f"member {mid}", mid in mine, bool(m))
            continue
        checked += 1
        compare_member(mid, mine[mid], m, db.pg)
    print(f"sink_check: {a.source}: {len(cities)} cities, {len(per_month)} (year, city) "
          f"new-member figures, {sum(matrix.values())} transfers between cities, "
          f"{checked} members compared, {svc_checked} service targets, "
          f"{len(want_m)} transfers of {a.member}, {len(want_p)} releases waiting")


def target_figures(db, source, t, plan):
    """((year, city), figure) of a service or activity target, from the sink."""
    table = "services" if t["event"] == "service_delivered" else "activities"
    tb = {"service_delivered": "s", "activity_held": "s"}[t["event"]]
    plans = plan_filter(t)
    where = [f"{tb}.source = '{source}'"]
    if plans.get("kind"):
        where.append(f"{tb}.kind IN ({', '.join(repr(k.upper()) for k in plans['kind'])})")
    if plans.get("member") is True:
        where.append(f"{tb}.member_id IS NOT NULL")
    if plans.get("member") is False:
        where.append(f"{tb}.member_id IS NULL")
    m = t["measure"]
    if m == "count":
        fig = "count(*)"
    elif m.startswith("sum:"):
        fig = f"sum(coalesce({tb}.{m[4:]}, 0))"
    elif m == "distinct_members":
        fig = f"count(DISTINCT {tb}.member_id)"
    else:
        return []
    year = ("to_char(s.occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYY')" if db.pg
            else "strftime('%Y', s.occurred_at, '+8 hours')")
    rows = db.rows(f"SELECT {year}, o.city, {fig} FROM {table} {tb} JOIN organisations o ON "
                   f"o.source = {tb}.source AND o.org_id = {tb}.org_id WHERE "
                   f"{' AND '.join(where)} GROUP BY 1, 2")
    out = []
    for y, city, n in rows:
        if plan["from_year"] <= int(y) <= plan["to_year"]:
            out.append(((int(y), int(city)), num(n)))
    if m == "distinct_members" and t["window"] == "cumulative":
        raise SystemExit("sink_check: a cumulative distinct_members target needs its own query")
    return out


def plan_filter(t):
    """The target's `where` from the plan file (the report carries no filter)."""
    text = open(ARGS.plan_file, encoding="utf-8").read()
    block = text.split(f"- id: {t['id']}\n", 1)[1].split("\n  - id:", 1)[0]
    m = re.search(r"where:\s*\{([^}]*)\}", block)
    out = {}
    if not m:
        return out
    for part in re.finditer(r"(\w+):\s*(\[[^\]]*\]|[\w-]+)", m.group(1)):
        key, val = part.group(1), part.group(2)
        if val.startswith("["):
            out[key] = [v.strip() for v in val[1:-1].split(",") if v.strip()]
        elif val in ("true", "false"):
            out[key] = val == "true"
        else:
            out[key] = [val]
    return out


def compare_member(mid, row, m, pg):
    def t(v):
        if v == NULL:
            return None
        if pg:  # 2025-04-24 05:26:40+00 or with fractions
            v = v.replace(" ", "T")
            v = re.sub(r"\+00$", "+00:00", v)
        from datetime import datetime
        d = datetime.fromisoformat(v)
        return int(d.timestamp()) * 1000000 + d.microsecond

    def b(v):
        return v in ("1", "t", "true")

    pairs = [
        ("status", row["status"], m.get("status")),
        ("org_id", row["org_id"], m.get("org_id")),
        ("worker_group", row["worker_group"], m.get("worker_group")),
        ("employment", row["employment"], m.get("employment")),
        ("platform", None if row["platform"] == NULL else row["platform"], m.get("platform")),
        ("region", num(row["region"]), m.get("region", 0)),
        ("real_name", b(row["real_name"]), m.get("real_name", False)),
        ("join_path", row["join_path"], m.get("join_path")),
        ("channel", row["channel"], m.get("channel")),
        ("first_joined_at", t(row["first_joined_at"]), m.get("first_joined_at")),
        ("last_joined_at", t(row["last_joined_at"]), m.get("last_joined_at")),
        ("rejoins", num(row["rejoins"]), m.get("rejoins", 0)),
        ("ended_at", t(row["ended_at"]), m.get("ended_at")),
        ("end_reason", None if row["end_reason"] == NULL else row["end_reason"],
         m.get("end_reason")),
        ("transfers", num(row["transfers"]), m.get("transfers", 0)),
        ("dues_paid_through", num(row["dues_paid_through"]), m.get("dues_paid_through", 0)),
        ("dues_paid_fen", num(row["dues_paid_fen"]), m.get("dues_paid_fen", 0)),
        ("affiliations", num(row["affiliations"]), len(m.get("affiliations", []))),
        ("version", num(row["version"]), m.get("version", 0)),
        ("last_seq", num(row["last_seq"]), m.get("last_seq", 0)),
    ]
    for f, got, want in pairs:
        if got != want:
            differ(f"member {mid} {f}", got, want)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["dump", "check", "answers"])
    p.add_argument("target")
    p.add_argument("--source")
    p.add_argument("--ledgerctl")
    p.add_argument("--url")
    p.add_argument("--doc")
    p.add_argument("--plan")
    p.add_argument("--plan-file")
    p.add_argument("--period", type=int, default=202612)
    p.add_argument("--at", default="2026-12-31T16:00:00Z")
    p.add_argument("--sample", type=int, default=40)
    p.add_argument("--answers")
    ARGS = p.parse_args()
    ARGS.source_given = ARGS.source is not None
    ARGS.source = ARGS.source or "ledger"
    db = DB(ARGS.target)
    if ARGS.cmd == "dump":
        dump(db, ARGS.source if ARGS.source_given else None)
        return 0
    if ARGS.cmd == "answers":
        run_queries(db, ARGS)
    else:
        check(db, ARGS)
    if problems:
        for x in problems[:60]:
            print("sink_check: " + x, file=sys.stderr)
        print(f"sink_check: {len(problems)} differences", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
