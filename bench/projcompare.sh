#!/usr/bin/env bash
# projcompare.sh BUILD... — the projection figures of builds side by side:
# bench/compare.sh projections BUILD... (see there).
exec "$(dirname "$0")/compare.sh" projections "$@"
