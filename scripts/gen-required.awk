# gen-required.awk — turn the "// required" markers of proto/ledger.proto into
# a C table, so the proto file stays the one source of which fields are required.
# Usage: awk -f scripts/gen-required.awk proto/ledger.proto > required.h
BEGIN {
	print "/* Generated from proto/ledger.proto by scripts/gen-required.awk. Do not edit. */"
	print "static const struct ld_required_field {"
	print "\tconst char *message; /* full name, \"ledger.MemberJoined\" */"
	print "\tconst char *field;"
	print "} ld_required_fields[] = {"
}
/^package / { pkg = $2; sub(/;/, "", pkg) }
/^message / { msg = $2 }
/^}/ { msg = "" }
msg != "" && /\/\/ required/ {
	line = $0
	sub(/[ \t]*=.*/, "", line)
	n = split(line, w, /[ \t]+/)
	printf "\t{\"%s.%s\", \"%s\"},\n", pkg, msg, w[n]
}
END {
	print "};"
}
