# ledgerd — Makefile
#
#   make              build the daemon, the clients and the tests into build/
#   make run          install missing Debian packages, build, start ledgerd on ./data
#                     (a fresh ./data first gets a demo province: DEMO=0 skips it,
#                     DEMO_MEMBERS=N sizes it, default 1000000, the plan's scale)
#   make run-cluster  three ledgerd nodes replicating one ledger on loopback (./data-cluster)
#   make test         build everything with ASan+UBSan into build/asan/ and run every test
#   make bench        build optimised and run the benchmarks in bench/ (not part of test;
#                     PostgreSQL is the peer: bench/pg.c; BENCH_ONLY=pg|growth|... one part)
#   make valgrind     run the unit tests under valgrind (non-sanitized build)
#   make install      install programs, message catalogues, systemd units, config example,
#                     plans, docs, manual pages, bash completion (PREFIX, DESTDIR,
#                     SYSCONFDIR, BINDIR, UNITDIR, DOCDIR, MANDIR, COMPLETIONDIR, LOCALEDIR)
#   make man          the manual pages, from the programs' --help (help2man), into $(BUILD)/man
#   make deb          the Debian packages ledgerd and ledgerd-clients (debian/), built from a
#                     copy of the tree in $(BUILD)/deb, then checked by lintian
#   make pot          extract the texts to translate into po/ledgerd.pot, merge into po/*.po
#   make fuzz         build the libFuzzer harnesses (fuzz/, clang-14) into build/fuzz/ and run
#                     each for FUZZ_SECONDS seconds from its seed corpus (fuzz/README.md)
#   make soak         hundreds of kill -9 rounds (test_daemon test_crash_rounds; CRASH_ROUNDS, default 300)
#   make soak-replica the replication simulation over many seeds (REPLICA_SEEDS, default 3000)
#   make check-layers fail if a file includes a header of a layer above its own
#   make check-po     fail if a catalogue (po/*.po) lacks a translation of a text the code marks
#   make format       clang-format every source file
#   make clean
#
# Settings (override on the command line, e.g. `make BUILD=/tmp/b OPT=-O0`):
#   BUILD   output directory                          (build)
#   OPT     optimisation flags                         (-O2)
#   SAN     1 = AddressSanitizer + UBSan               (empty)
#   V       1 = print every command                    (quiet)
#   FUZZ    1 = clang-14 with -fsanitize=fuzzer-no-link,address,undefined (make fuzz)
#   FUZZ_SECONDS  how long `make fuzz` runs each harness (60)
#   DATA    data directory used by `make run`          (./data)
#   URL     listen address used by `make run`          (tcp://127.0.0.1:7450)
#   PUB     live feed (NNG PUB) address of `make run`   (tcp://127.0.0.1:7451)
#
# Layout: the folders are layers, each built on the ones before it only
# (docs/ARCHITECTURE.md says what lives where and why):
#
#   proto/        the contract: ledger.proto, codec, checks, hashing, errors
#   core/         the log store, write model, writer, Merkle tree, keystore,
#                 personal data, roles, subscriptions' log reading, backup,
#                 counters, log lines
#   projections/  the derived views and their runner
#   server/       NNG: listeners, identities, requests
#   daemon/       main, config, HTTP metrics, live feed
#   clients/      the client library (every clients/*.c not named ledger*.c)
#                 and the programs (clients/ledger*.c, or a folder
#                 clients/NAME/ with a main.c); on proto/ only
#
# Each layer is compiled with the include paths of itself and the layers
# below it and nothing more, so including a header from above fails to
# compile; `make check-layers` (part of `make test`) says so by name, for
# every quoted #include of every layer's files (scripts/check-layers.sh).
# tests/ (one binary per tests/test_*.c, linked with the other tests/*.c,
# the test library, plus shell tests tests/*_test.sh), bench/ and fuzz/ see
# every layer.

BUILD  ?= build
# A build directory remembers how it was configured (SAN, OPT): a later
# `make BUILD=dir ...` without them (make install, a test calling make) builds
# alike instead of relinking sanitized objects without the sanitizer.
-include $(BUILD)/config.mk
OPT    ?= -O2
SAN    ?=
DATA   ?= ./data
URL    ?= tcp://127.0.0.1:7450
PUB    ?= tcp://127.0.0.1:7451
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= $(PREFIX)/etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/ledgerd
LOCALEDIR ?= $(PREFIX)/share/locale
MANDIR ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
# The version every program prints (--version), which debian/changelog follows.
VERSION := $(shell sed -n 's/^\#define LD_VERSION "\(.*\)"/\1/p' proto/version.h)

CC      ?= cc
V       ?=
Q       := $(if $(V),,@)
PROTOC_C ?= protoc-c
PKGS    := lmdb libprotobuf-c libuv libcrypto jansson yaml-0.1
PKGS    += inih libmicrohttpd  # config and role files; metrics endpoint and dashboard
PKGS    += sqlite3 libpq       # ledger-sink's targets (clients/sink_*.c)
PKGS    += libxxhash           # the write model's hash tables and snapshot checksum (core/mtable.c)
PKGS    += liblz4              # raft entries compressed (core/compress.c)
PKGS    += liburcu-bp          # the write model's indexes free what they outgrow (core/rcu.c)

# NNG 1.5.2 in Debian ships no pkg-config file; fall back to plain -lnng.
NNG_CFLAGS := $(shell pkg-config --cflags nng 2>/dev/null)
NNG_LIBS   := $(shell pkg-config --libs nng 2>/dev/null || echo -lnng)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-unused-parameter -Wvla
CFLAGS  := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(NNG_CFLAGS)

# The layers, lowest first, and the include paths each is compiled with:
# its own and those of the layers below it (clients/: proto/ and itself).
LAYERS          := proto core projections server daemon
INC_proto       := -I$(BUILD)/gen -Iproto
INC_core        := $(INC_proto) -Icore
INC_projections := $(INC_core) -Iprojections
INC_server      := $(INC_projections) -Iserver
INC_daemon      := $(INC_server) -Idaemon
INC_clients     := $(INC_proto) -Iclients
INC_all         := $(INC_daemon) -Iclients  # tests/, bench/, fuzz/
INC              = $(INC_all)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(NNG_LIBS) -lpthread -lm
LDLIBS  += -lcsv  # libcsv (Debian libcsv-dev) has no pkg-config file

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# libFuzzer harnesses (make fuzz): objects instrumented, programs linked with the fuzzer main.
ifeq ($(FUZZ),1)
CC      := clang-14
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif

GEN_C   := $(BUILD)/gen/ledger.pb-c.c
GEN_H   := $(BUILD)/gen/ledger.pb-c.h $(BUILD)/gen/required.h

PROTO_SRCS  := $(wildcard proto/*.c)
# core/replica*.c (C-Raft) is linked only into what replicates (below).
CORE_SRCS   := $(filter-out core/replica%.c,$(wildcard core/*.c))
PROJ_SRCS   := $(wildcard projections/*.c)
SERVER_SRCS := $(wildcard server/*.c)
# The program ledgerd: main, and its side of systemd (libsystemd: the
# readiness notice and the journal's log prefixes), which nothing else links;
# its accept(2) and accept4(2), which keep the last descriptors from
# connections (daemon/fdgate.h): the libraries' calls resolve to them.
# And the cluster (daemon/cluster.c), the only part of it that links C-Raft.
DAEMON_MAIN_SRCS := daemon/main.c daemon/systemd.c daemon/cluster.c daemon/catchup.c \
                    daemon/membership.c daemon/cluster_metrics.c daemon/fdgate.c
DAEMON_SRCS := $(filter-out $(DAEMON_MAIN_SRCS),$(wildcard daemon/*.c))
CLIENT_PROGS_SRCS := $(wildcard clients/ledger*.c)
# A program in several files has a folder: clients/NAME/*.c, main.c among them.
CLIENT_PROG_DIRS  := $(patsubst %/main.c,%,$(wildcard clients/*/main.c))
# The full-screen terminal (ncursesw) is ledger-monitor's alone, not part of
# the client library every program links.
TERM_SRCS   := clients/term.c
CLIENT_LIB_SRCS   := $(filter-out $(CLIENT_PROGS_SRCS) $(TERM_SRCS),$(wildcard clients/*.c))
TEST_SRCS   := $(wildcard tests/test_*.c)
TEST_LIB_SRCS := $(filter-out $(TEST_SRCS),$(wildcard tests/*.c))
# bench/bench.c is what the benchmarks share (bench/bench.h): linked into each, not one itself.
BENCH_LIB_SRCS := bench/bench.c
BENCH_SRCS  := $(filter-out $(BENCH_LIB_SRCS),$(wildcard bench/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

PROTO_OBJS  := $(call obj,$(PROTO_SRCS)) $(BUILD)/obj/gen/ledger.pb-c.o
# Everything of the daemon but main (the tests, benchmarks and fuzzers link it too).
CORE_OBJS   := $(call obj,$(CORE_SRCS) $(PROJ_SRCS) $(SERVER_SRCS) $(DAEMON_SRCS))
CLIENT_OBJS := $(call obj,$(CLIENT_LIB_SRCS))
TEST_LIB_OBJS := $(call obj,$(TEST_LIB_SRCS))
BENCH_LIB_OBJS := $(call obj,$(BENCH_LIB_SRCS))

PROGRAMS := $(BUILD)/ledgerd $(patsubst clients/%.c,$(BUILD)/%,$(CLIENT_PROGS_SRCS)) \
            $(patsubst clients/%,$(BUILD)/%,$(CLIENT_PROG_DIRS))
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
BENCHES  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
FUZZERS  := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60
MO_FILES := $(patsubst po/%.po,$(BUILD)/locale/%/LC_MESSAGES/ledgerd.mo,$(wildcard po/*.po))

.PHONY: all programs tests benches run test bench valgrind format clean deps install fuzz fuzzers soak \
	soak-replica run-cluster bench-cluster check-layers check-po man deb pot
.SUFFIXES:
.SECONDARY:

all: programs tests benches

programs: $(PROGRAMS) $(MO_FILES)
tests: $(TESTS) programs
benches: $(BENCHES) programs

$(GEN_C) $(BUILD)/gen/ledger.pb-c.h: proto/ledger.proto
	@mkdir -p $(BUILD)/gen
	@echo "  PROTOC  $<"
	$(Q)$(PROTOC_C) --c_out=$(BUILD)/gen -Iproto proto/ledger.proto

# Which fields are required is written once, as "// required" in the proto.
$(BUILD)/gen/required.h: proto/ledger.proto scripts/gen-required.awk
	@mkdir -p $(BUILD)/gen
	$(Q)awk -f scripts/gen-required.awk proto/ledger.proto > $@

$(BUILD)/obj/gen/ledger.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(INC_proto) -Wno-missing-prototypes -MMD -MP -c $< -o $@

# What ledgerd_build_info says (daemon/metrics.c): the version, and the
# versions of the main libraries it is built against.
NNG_VERSION = $(shell awk '/define NNG_(MAJOR|MINOR|PATCH)_VERSION/ { v = v (v == "" ? "" : ".") $$3 } \
	END { print v }' /usr/include/nng/nng.h 2>/dev/null)
mod = $(shell pkg-config --modversion $(1) 2>/dev/null)
$(BUILD)/gen/build_info.h: Makefile daemon/main.c | $(BUILD)/config.mk
	@mkdir -p $(BUILD)/gen
	$(Q)printf '#define LD_BUILD_VERSION "%s"\n#define LD_BUILD_LIBS "%s"\n' '$(VERSION)' \
		'compiler=\"$(notdir $(CC)) $(shell $(CC) -dumpfullversion 2>/dev/null)\",lmdb=\"$(call mod,lmdb)\",nng=\"$(NNG_VERSION)\",protobuf_c=\"$(call mod,libprotobuf-c)\",libuv=\"$(call mod,libuv)\",openssl=\"$(call mod,libcrypto)\",libmicrohttpd=\"$(call mod,libmicrohttpd)\"' \
		> $@.tmp && mv $@.tmp $@
$(BUILD)/obj/daemon/metrics.o: $(BUILD)/gen/build_info.h

$(BUILD)/config.mk:
	@mkdir -p $(BUILD)
	@printf 'SAN ?= %s\nOPT ?= %s\n' '$(SAN)' '$(OPT)' > $@

# Each layer's objects see only its include paths (INC_<layer> above).
$(foreach l,$(LAYERS) clients,$(eval $(BUILD)/obj/$(l)/%.o: INC = $(INC_$(l))))

$(BUILD)/obj/%.o: %.c $(GEN_H) | $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(INC) -MMD -MP -c $< -o $@

SYSTEMD_LIBS := $(shell pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd)
$(BUILD)/ledgerd: $(call obj,$(DAEMON_MAIN_SRCS)) $(CORE_OBJS) $(PROTO_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) $(SYSTEMD_LIBS) -o $@

$(BUILD)/ledger%: $(BUILD)/obj/clients/ledger%.o $(CLIENT_OBJS) $(PROTO_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# A program in a folder links every object of the folder (an explicit rule, so
# the one-file pattern above is never tried for it).
define folder_program
$(BUILD)/$(notdir $(1)): $(call obj,$(wildcard $(1)/*.c)) $(CLIENT_OBJS) $(PROTO_OBJS)
	@echo "  LD      $$@"
	$(Q)$(CC) $(LDFLAGS) $$^ $(LDLIBS) -o $$@
endef
$(foreach d,$(CLIENT_PROG_DIRS),$(eval $(call folder_program,$(d))))

# The message catalogues (gettext): po/LANG.po compiled into BUILD/locale,
# where the programs look next to themselves (proto/i18n.h), and installed
# under LOCALEDIR. `make pot` extracts the marked texts (_(), N_(), P_(), the
# help of ledgerctl's option tables) and merges them into every po/LANG.po.
$(BUILD)/locale/%/LC_MESSAGES/ledgerd.mo: po/%.po
	@mkdir -p $(dir $@)
	@echo "  MSGFMT  $<"
	$(Q)msgfmt --check -o $@ $<

XGETTEXT = xgettext --from-code=UTF-8 --language=C --add-comments=TRANSLATORS --package-name=ledgerd \
	-k_ -kN_ -kP_:1,2 -kOPT:4 -kOPT_REQ:4 -kENUM:3 -kENUM_REQ:3 \
	$(sort $(wildcard proto/*.[ch] clients/*.[ch] clients/*/*.[ch] daemon/*.c))
pot:
	$(XGETTEXT) -o po/ledgerd.pot
	for po in $(wildcard po/*.po); do msgmerge -q --update --backup=none $$po po/ledgerd.pot; done

# Every text the code marks has a translation in every catalogue, neither
# missing, empty nor fuzzy (msgcmp counts those as missing and names them).
check-po:
	@mkdir -p $(BUILD)
	@$(XGETTEXT) -o $(BUILD)/check-po.pot
	@for po in $(wildcard po/*.po); do \
		msgcmp $$po $(BUILD)/check-po.pot || { echo "$$po: not up to date: make pot, then translate" >&2; exit 1; }; \
	done

# The dashboard's page (clients/web/) is compiled into ledger-dashboard, so
# that the program serves it from wherever it is installed.
WEB_FILES := $(sort $(wildcard clients/web/*.html clients/web/*.js clients/web/*.css clients/web/*.svg))
$(BUILD)/gen/dash_assets.c: $(WEB_FILES) scripts/embed-assets.sh
	@mkdir -p $(BUILD)/gen
	@echo "  EMBED   clients/web"
	$(Q)scripts/embed-assets.sh $(WEB_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/dash_assets.o: $(BUILD)/gen/dash_assets.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(INC_clients) -c $< -o $@

$(BUILD)/ledger-dashboard: $(BUILD)/obj/gen/dash_assets.o

$(BUILD)/ledger-monitor: $(call obj,$(TERM_SRCS))
$(BUILD)/ledger-monitor: LDLIBS += $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw)
$(BUILD)/obj/clients/term.o: CFLAGS += $(shell pkg-config --cflags ncursesw 2>/dev/null)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_LIB_OBJS) $(CORE_OBJS) $(CLIENT_OBJS) $(PROTO_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BENCH_LIB_OBJS) $(CORE_OBJS) $(CLIENT_OBJS) $(PROTO_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/fuzz/%: $(BUILD)/obj/fuzz/%.o $(BUILD)/obj/fuzz/harness.o $(CORE_OBJS) $(PROTO_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

fuzzers: $(FUZZERS)

# C-Raft (libraft-dev) is linked only into what replicates: core/replica*.c
# and its test, which runs the deterministic simulation on raft/fixture.h.
RAFT_LIBS := $(shell pkg-config --libs raft 2>/dev/null || echo -lraft)
$(BUILD)/tests/test_replica: $(BUILD)/obj/core/replica.o $(BUILD)/obj/core/replica_node.o \
	$(BUILD)/obj/core/replica_confirm.o
$(BUILD)/tests/test_replica: LDLIBS += $(RAFT_LIBS)
$(BUILD)/ledgerd: $(BUILD)/obj/core/replica.o $(BUILD)/obj/core/replica_node.o \
	$(BUILD)/obj/core/replica_confirm.o
$(BUILD)/ledgerd: LDLIBS += $(RAFT_LIBS)

# tests/test_bench_gen tests the benchmarks' generator (bench/bench.c).
$(BUILD)/tests/test_bench_gen: $(BENCH_LIB_OBJS)

# bench/pg.c, the PostgreSQL peer, is the only libpq client.
$(BUILD)/obj/bench/pg.o: CFLAGS += $(shell pkg-config --cflags libpq 2>/dev/null)
$(BUILD)/bench/pg: LDLIBS += $(shell pkg-config --libs libpq 2>/dev/null || echo -lpq)

deps:
	@scripts/install-deps.sh

# A new $(DATA) gets a demo province first (DEMO=0: not; DEMO_MEMBERS=N: its size).
run: deps
	@$(MAKE) --no-print-directory programs
	scripts/run.sh $(BUILD) $(DATA) $(URL) $(PUB)

# Three nodes of one replicated ledger on loopback (ports 7471-7473, raft on
# 7481-7483), data in $(DATA)-cluster/ (docs/REPLICATION.md).
run-cluster: deps
	@$(MAKE) --no-print-directory programs
	scripts/run-cluster.sh $(BUILD) $(DATA)-cluster

test: deps check-layers check-po
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 OPT=-O1 tests
	@tests/run.sh build/asan

# Replication's figures: single node, 3 nodes and PostgreSQL interleaved,
# the ceiling of one client, failover (bench/RESULTS.cluster.md).
bench-cluster: deps
	@$(MAKE) --no-print-directory benches
	@bench/cluster.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory benches
	@bench/run.sh $(BUILD)

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz FUZZ=1 OPT=-O1 fuzzers
	@fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

soak: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 OPT=-O1 tests
	@TEST=test_crash_rounds CRASH_ROUNDS=$${CRASH_ROUNDS:-300} TEST_TIMEOUT=$${TEST_TIMEOUT:-7200} \
		tests/run.sh build/asan test_daemon

soak-replica: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 OPT=-O1 tests
	@TEST=test_simulation REPLICA_SEEDS=$${REPLICA_SEEDS:-3000} TEST_TIMEOUT=$${TEST_TIMEOUT:-14400} \
		tests/run.sh build/asan test_replica

# A lower layer never includes a higher one (the layers are listed above).
check-layers:
	@scripts/check-layers.sh $(LAYERS) -- clients:proto

valgrind:
	@$(MAKE) --no-print-directory BUILD=build/vg OPT=-O0 tests
	@VALGRIND=1 tests/run.sh build/vg

format:
	clang-format -i $(wildcard proto/*.[ch] core/*.[ch] projections/*.[ch] server/*.[ch] daemon/*.[ch] \
		clients/*.[ch] clients/*/*.[ch] tests/*.[ch] bench/*.[ch])

# make install [PREFIX=/usr/local] [SYSCONFDIR=$(PREFIX)/etc] [DESTDIR=staging root]:
# the programs, the systemd units (paths filled in), the config example and
# the settings of the sink's and dashboard's units (existing ones are kept;
# the example always goes to the doc directory), the plans, the docs
# (docs/*.md, with the protocol itself, proto/PROTOCOL.md and ledger.proto,
# in the place of docs/PROTOCOL.md, the repository's pointer to it), the
# manual pages and the bash completion (one file; the other programs' names
# link to it). For a system install: make install PREFIX=/usr SYSCONFDIR=/etc
# BUILT=1 installs what $(BUILD) holds and builds nothing there but missing
# manual pages: the tests install while other tests run those programs, and
# a program relinked under them fails to start ("Permission denied", CI).
install: $(if $(BUILT),,programs) man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/ledgerd \
		$(DESTDIR)$(DOCDIR)
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	for mo in $(MO_FILES); do lang=$$(basename $$(dirname $$(dirname $$mo))); \
		install -D -m 644 $$mo $(DESTDIR)$(LOCALEDIR)/$$lang/LC_MESSAGES/ledgerd.mo; done
	for u in $(UNITS); do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			-e 's|@DOCDIR@|$(DOCDIR)|g' etc/$$u > $(DESTDIR)$(UNITDIR)/$$u && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; done
	install -d $(DESTDIR)$(SYSCONFDIR)/default
	for d in ledger-sink ledger-dashboard; do [ -e $(DESTDIR)$(SYSCONFDIR)/default/$$d ] || \
		install -m 644 etc/$$d.default $(DESTDIR)$(SYSCONFDIR)/default/$$d || exit 1; done
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 644 $(BUILD)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(BUILD)/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -d $(DESTDIR)$(COMPLETIONDIR)
	install -m 644 etc/bash-completion/ledgerctl $(DESTDIR)$(COMPLETIONDIR)/ledgerctl
	for p in $(filter-out ledgerctl,$(notdir $(PROGRAMS))); do \
		ln -sf ledgerctl $(DESTDIR)$(COMPLETIONDIR)/$$p || exit 1; done
	install -m 644 etc/ledgerd.conf $(DESTDIR)$(DOCDIR)/ledgerd.conf.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/ledgerd/ledgerd.conf ] || \
		install -m 644 etc/ledgerd.conf $(DESTDIR)$(SYSCONFDIR)/ledgerd/ledgerd.conf
	install -m 644 $(filter-out docs/PROTOCOL.md,$(wildcard docs/*.md)) $(DESTDIR)$(DOCDIR)/
	install -m 644 proto/PROTOCOL.md proto/ledger.proto $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(SYSCONFDIR)/ledgerd/plans
	for f in plans/*.yaml; do [ -e $(DESTDIR)$(SYSCONFDIR)/ledgerd/$$f ] || \
		install -m 644 $$f $(DESTDIR)$(SYSCONFDIR)/ledgerd/plans/; done

# The systemd units in etc/ (@BINDIR@, @SYSCONFDIR@, @DOCDIR@ filled in by install).
UNITS := ledgerd.service ledger-sink.service ledger-dashboard.service

# Manual pages: help2man over each program's --help (scripts/gen-man.sh), with
# what --help does not say from docs/man/*.h2m.
man: $(BUILD)/man/.done
$(BUILD)/man/.done: $(if $(BUILT),,$(PROGRAMS)) scripts/gen-man.sh $(wildcard docs/man/*.h2m)
	@echo "  MAN     $(BUILD)/man"
	$(Q)rm -rf $(BUILD)/man && scripts/gen-man.sh $(BUILD) $(BUILD)/man $(VERSION) && touch $@

# Debian packages, from a copy of the tree (the files git knows, as they are
# now, and new ones it does not ignore), so the checkout stays clean; the
# .deb files and lintian's findings end up in $(BUILD)/deb.
DEB_SRC = $(BUILD)/deb/ledgerd-$(VERSION)
deb: deps
	@command -v dpkg-buildpackage >/dev/null || \
		{ echo "make deb: dpkg-buildpackage is missing (scripts/install-deps.sh)" >&2; exit 1; }
	rm -rf $(BUILD)/deb && mkdir -p $(DEB_SRC)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z --cached --others --exclude-standard | \
			tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(DEB_SRC); \
	else \
		tar --exclude=./build --exclude=./data -cf - . | tar -xf - -C $(DEB_SRC); \
	fi
	cd $(DEB_SRC) && dpkg-buildpackage -b -uc -us
	@if command -v lintian >/dev/null; then \
		echo "  LINTIAN $(BUILD)/deb/*.changes"; \
		lintian --info --display-info --pedantic $(BUILD)/deb/*.changes | tee $(BUILD)/deb/lintian.txt; \
	fi

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
