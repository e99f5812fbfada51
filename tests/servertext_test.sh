#!/usr/bin/env bash
# servertext_test.sh — the ledger's sentences that ledgerctl translates
# (clients/servertext.c) are still the ledger's sentences. The client
# recognises a refusal by matching its English text against a pattern (each
# value written %s); when the server's sentence changes, the pattern stops
# matching and the clerk silently gets English again. So every pattern must
# be found in the server's C sources (core/, proto/, server/, projections/):
#
#   - a format string that, once adjacent literals are joined ("a " PRIu64
#     " b" too) and every conversion (%s, %u, %06u, %llu, %zu, %" PRIu64 ",
#     ...) is written %s, equals the pattern; or
#   - one whose %s stand for pieces the server fills in from its own literals:
#     the ledger builds some sentences from parts ("member '%s' has no active
#     membership%s" with " to transfer", " to end" or ""; "%s already paid
#     ..." with "month %u was"). There each of the format's %s takes, in the
#     pattern, nothing, one of the pattern's %s, or the text of a string
#     literal of those sources (normalised the same way), so a changed part
#     is caught too.
#
# A pattern found nowhere fails the test, named. Nothing runs but Python.
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}

python3 - "$ROOT" <<'EOF'
import os, re, sys

root = sys.argv[1]
SERVER_DIRS = ("core", "proto", "server", "projections")

# A printf conversion: flags, width, precision, length, conversion.
CONV = re.compile(r"%[-+ #0']*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|j|z|t|L|q)?[diouxXeEfFgGcspaA]")
# <inttypes.h>'s macros between literals: "%" PRIu64 " events".
PRI = re.compile(r"PRI[diouxX](?:8|16|32|64|MAX|PTR|LEAST\d+|FAST\d+)$")
ESC = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
       "\\": "\\", "'": "'", '"': '"', "?": "?"}


def unescape(body):
    """The bytes a C string literal's body stands for, as text."""
    out, i = bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        n = body[i + 1]
        if n in ESC:
            out += ESC[n].encode()
            i += 2
        elif n == "x":
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            out.append(int(m.group(0), 16) & 0xFF)
            i += 2 + len(m.group(0))
        elif n in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(int(m.group(0), 8) & 0xFF)
            i += 1 + len(m.group(0))
        elif n in "uU":
            k = 4 if n == "u" else 8
            out += chr(int(body[i + 2:i + 2 + k], 16)).encode()
            i += 2 + k
        else:
            out += n.encode()
            i += 2
    return out.decode("utf-8", "replace")


TOKEN = re.compile(
    r'//[^\n]*|/\*.*?\*/'                  # comments
    r'|(?:u8|u|U|L)?"((?:[^"\\\n]|\\.)*)"'  # a string literal (group 1)
    r"|'(?:[^'\\\n]|\\.)*'"                 # a character constant
    r'|([A-Za-z_]\w*)'                      # an identifier (group 2)
    r'|(\S)', re.S)                         # anything else (group 3)


def tokens(text):
    """('s', text) for string literals, ('i', name), ('p', char)."""
    for m in TOKEN.finditer(text):
        if m.group(1) is not None:
            yield ("s", unescape(m.group(1)))
        elif m.group(2):
            yield ("i", m.group(2))
        elif m.group(3):
            yield ("p", m.group(3))


def strings(text):
    """The file's string constants, adjacent literals (and PRI macros) joined."""
    out, cur = [], None
    for kind, v in tokens(text):
        if kind == "s":
            cur = v if cur is None else cur + v
        elif kind == "i" and cur is not None and PRI.match(v):
            cur += "llu"  # "%" PRIu64 → "%llu"
        else:
            if cur is not None:
                out.append(cur)
            cur = None
    if cur is not None:
        out.append(cur)
    return out


def normal(s):
    """Every conversion written %s ("%%" stays)."""
    return re.sub(r"%%|" + CONV.pattern, lambda m: m.group(0) if m.group(0) == "%%" else "%s", s)


def patterns(path):
    """The N_("...") of clients/servertext.c, as written."""
    out, toks, i = [], list(tokens(open(path, encoding="utf-8").read())), 0
    while i < len(toks):
        if toks[i] == ("i", "N_") and i + 1 < len(toks) and toks[i + 1] == ("p", "("):
            j, s = i + 2, ""
            while j < len(toks) and toks[j][0] == "s":
                s += toks[j][1]
                j += 1
            out.append(s)
            i = j
        else:
            i += 1
    return out


formats, pieces = set(), set()
for d in SERVER_DIRS:
    for dirpath, _, files in os.walk(os.path.join(root, d)):
        for f in files:
            if f.endswith((".c", ".h")):
                text = open(os.path.join(dirpath, f), encoding="utf-8", errors="replace").read()
                for s in strings(text):
                    formats.add(normal(s))
pieces = formats  # what a format's %s may take: any literal of the sources


def instance(fmt, pat, seen=None):
    """Whether pattern pat is format fmt with each %s of fmt taking nothing,
    one %s of pat, or the text of one of the sources' literals."""
    if seen is None:
        seen = {}
    key = (fmt, pat)
    if key in seen:
        return seen[key]
    seen[key] = False
    k = fmt.find("%s")
    if k < 0:
        seen[key] = fmt == pat
        return seen[key]
    if not pat.startswith(fmt[:k]):
        return False
    rest_f, rest_p = fmt[k + 2:], pat[k:]
    takes = {"", "%s"} | {p for p in by_first.get(rest_p[:1], ()) if rest_p.startswith(p)}
    for t in takes:
        if rest_p.startswith(t) and instance(rest_f, rest_p[len(t):], seen):
            seen[key] = True
            return True
    return False


by_first = {}
for p in pieces:
    if p:
        by_first.setdefault(p[0], set()).add(p)

# Formats worth trying against a pattern: those with at least one %s and
# some words of their own (not "%s" or "%s: %s", which would take anything).
templates = [f for f in formats if "%s" in f and len(re.sub(r"%s|\W", "", f)) >= 8]

pats = patterns(os.path.join(root, "clients", "servertext.c"))
if not pats:
    print("servertext_test: no N_(...) patterns found in clients/servertext.c", file=sys.stderr)
    sys.exit(1)
stale = []
for p in pats:
    if p in formats:
        continue
    if any(f.split("%s", 1)[0] == p[:len(f.split("%s", 1)[0])] and instance(f, p)
           for f in templates):
        continue
    stale.append(p)
for p in stale:
    print("servertext_test: no server sentence for the pattern %r (clients/servertext.c): "
          "the server's sentence changed? Make the pattern its sentence again "
          "(and its translation in po/)." % p, file=sys.stderr)
if stale:
    print("servertext_test: %d of %d patterns stale" % (len(stale), len(pats)), file=sys.stderr)
    sys.exit(1)
print("servertext_test: ok (%d patterns, each a sentence of %s)" % (len(pats), ", ".join(SERVER_DIRS)))
EOF
