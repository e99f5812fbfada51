#!/usr/bin/env python3
"""promtext.py FILE [NAME=VALUE...] — a strict checker of the Prometheus text
exposition format 0.0.4, for the tests (Debian's promtool comes with the whole
Prometheus server). Exits 1 naming the first problem.

Checks: every line is a comment (# HELP / # TYPE, well formed), a sample
(name, optional {label="value",...} with escapes, a float value, no timestamp
needed), or empty at the end; each family has one HELP and one TYPE, given
before its samples, and its samples are contiguous; sample names belong to
their family (_bucket/_sum/_count for histograms); no series twice; label
names valid, no le outside histograms; histogram buckets cumulative,
ending with le="+Inf" equal to _count; counters not negative; the text ends
with a newline.

NAME=VALUE arguments assert a sample's value: 'ledgerd_log_head_seq=42',
'ledgerd_events_total{outcome="recorded"}=7'. Prints the samples as JSON
(series -> value) on stdout when all is well."""
import json
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r"(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]?Inf|NaN)"
LABELVAL = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(
    rf"^({NAME})(\{{(?:{LABEL}={LABELVAL}(?:,{LABEL}={LABELVAL})*,?)?\}})? ({VALUE})(?: -?\d+)?$"
)
HELP = re.compile(rf"^# HELP ({NAME}) (.*)$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")
PAIR = re.compile(rf"({LABEL})=({LABELVAL})")


def die(msg, lineno=None):
    where = f"line {lineno}: " if lineno else ""
    print(f"promtext: {where}{msg}", file=sys.stderr)
    sys.exit(1)


def value(text):
    return float(text.replace("Inf", "inf"))


def main():
    if len(sys.argv) < 2:
        die("usage: promtext.py FILE [NAME=VALUE...]")
    data = open(sys.argv[1], "rb").read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        die("not UTF-8")
    if not text.endswith("\n"):
        die("the text does not end with a newline")
    helps, types, done = {}, {}, set()
    current = None
    series = {}
    buckets = {}  # (family, labels without le) -> [(le, value)]
    counts = {}
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if line == "":
            die("empty line", n)
        if line.startswith("#"):
            m = HELP.match(line) or TYPE.match(line)
            if not m:
                if line.startswith("# HELP") or line.startswith("# TYPE"):
                    die(f"malformed: {line!r}", n)
                continue  # a plain comment
            fam = m.group(1)
            if fam in done:
                die(f"family {fam} continues after another family", n)
            if current and current != fam:
                done.add(current)
            current = fam
            table = helps if line.startswith("# HELP") else types
            if fam in table:
                die(f"second {'HELP' if table is helps else 'TYPE'} for {fam}", n)
            if table is types and any(s[0] == fam for s in series):
                die(f"TYPE of {fam} after its samples", n)
            table[fam] = m.group(2)
            continue
        m = SAMPLE.match(line)
        if not m:
            die(f"not a sample: {line!r}", n)
        name, labels, val = m.group(1), m.group(2) or "", m.group(3)
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)] if name.endswith(suffix) else None
            if base and types.get(base) in ("histogram", "summary"):
                fam = base
        if fam not in types or fam not in helps:
            die(f"sample {name} before (or without) the HELP and TYPE of its family", n)
        if fam != current:
            die(f"sample {name} is not next to its family {fam}", n)
        pairs = PAIR.findall(labels)
        names = [p[0] for p in pairs]
        if len(set(names)) != len(names):
            die(f"a label twice in {line!r}", n)
        key = name + labels
        if key in series:
            die(f"series {key} twice", n)
        v = value(val)
        series[key] = v
        kind = types[fam]
        if "le" in names and not (kind == "histogram" and name.endswith("_bucket")):
            die(f"label le outside a histogram bucket: {line!r}", n)
        if kind == "counter" and (v < 0 or math.isnan(v)):
            die(f"counter {key} is {val}", n)
        if kind == "histogram":
            rest = tuple(p for p in pairs if p[0] != "le")
            if name.endswith("_bucket"):
                if "le" not in names:
                    die(f"bucket without le: {line!r}", n)
                le = value(dict(pairs)["le"].strip('"'))
                buckets.setdefault((fam, rest), []).append((le, v))
            elif name.endswith("_count"):
                counts[(fam, rest)] = v
            elif not name.endswith("_sum"):
                die(f"histogram sample {name} is not _bucket, _sum or _count", n)
    for fam in types:
        if fam not in helps:
            die(f"family {fam} has a TYPE but no HELP")
    for (fam, rest), bs in buckets.items():
        les = [b[0] for b in bs]
        if les != sorted(les) or len(set(les)) != len(les):
            die(f"{fam}: bucket bounds not increasing: {les}")
        if les[-1] != math.inf:
            die(f"{fam}: no le=\"+Inf\" bucket")
        vals = [b[1] for b in bs]
        if any(a > b for a, b in zip(vals, vals[1:])):
            die(f"{fam}: buckets not cumulative: {vals}")
        if counts.get((fam, rest)) != vals[-1]:
            die(f"{fam}: _count {counts.get((fam, rest))} != +Inf bucket {vals[-1]}")
    for want in sys.argv[2:]:
        key, _, val = want.rpartition("=")
        if key not in series:
            die(f"no series {key}")
        if series[key] != float(val):
            die(f"{key} is {series[key]:g}, wanted {val}")
    print(json.dumps(series))


main()
