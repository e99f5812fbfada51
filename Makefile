# ledgerd — Makefile
#
#   make              build the daemon, the clients and the tests into build/
#   make run          install missing Debian packages, build, start ledgerd on ./data
#                     (a fresh ./data first gets a demo province: DEMO=0 skips it,
#                     DEMO_MEMBERS=N sizes it, default 20000)
#   make test         build everything with ASan+UBSan into build/asan/ and run every test
#   make bench        build optimised and run the benchmarks in bench/ (not part of test;
#                     PostgreSQL is the peer: bench/pg.c; BENCH_ONLY=pg|growth|... one part)
#   make valgrind     run the unit tests under valgrind (non-sanitized build)
#   make install      install programs, message catalogues, systemd unit, config example,
#                     docs (PREFIX, DESTDIR, SYSCONFDIR, BINDIR, UNITDIR, DOCDIR, LOCALEDIR)
#   make pot          extract the texts to translate into po/ledgerd.pot, merge into po/*.po
#   make fuzz         build the libFuzzer harnesses (fuzz/, clang-14) into build/fuzz/ and run
#                     each for FUZZ_SECONDS seconds from its seed corpus (fuzz/README.md)
#   make soak         hundreds of kill -9 rounds (test_daemon test_crash_rounds; CRASH_ROUNDS, default 300)
#   make check-layers fail if a file includes a header of a layer above its own
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

CC      ?= cc
V       ?=
Q       := $(if $(V),,@)
PROTOC_C ?= protoc-c
PKGS    := lmdb libprotobuf-c libuv libcrypto jansson yaml-0.1
PKGS    += inih libmicrohttpd  # config and role files; metrics endpoint and dashboard
PKGS    += sqlite3 libpq       # ledger-sink's targets (clients/sink_*.c)

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
CORE_SRCS   := $(wildcard core/*.c)
PROJ_SRCS   := $(wildcard projections/*.c)
SERVER_SRCS := $(wildcard server/*.c)
DAEMON_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CLIENT_PROGS_SRCS := $(wildcard clients/ledger*.c)
# A program in several files has a folder: clients/NAME/*.c, main.c among them.
CLIENT_PROG_DIRS  := $(patsubst %/main.c,%,$(wildcard clients/*/main.c))
# The full-screen terminal (ncursesw) is ledger-monitor's alone, not part of
# the client library every program links.
TERM_SRCS   := clients/term.c
CLIENT_LIB_SRCS   := $(filter-out $(CLIENT_PROGS_SRCS) $(TERM_SRCS),$(wildcard clients/*.c))
TEST_SRCS   := $(wildcard tests/test_*.c)
TEST_LIB_SRCS := $(filter-out $(TEST_SRCS),$(wildcard tests/*.c))
BENCH_SRCS  := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

PROTO_OBJS  := $(call obj,$(PROTO_SRCS)) $(BUILD)/obj/gen/ledger.pb-c.o
# Everything of the daemon but main (the tests, benchmarks and fuzzers link it too).
CORE_OBJS   := $(call obj,$(CORE_SRCS) $(PROJ_SRCS) $(SERVER_SRCS) $(DAEMON_SRCS))
CLIENT_OBJS := $(call obj,$(CLIENT_LIB_SRCS))
TEST_LIB_OBJS := $(call obj,$(TEST_LIB_SRCS))

PROGRAMS := $(BUILD)/ledgerd $(patsubst clients/%.c,$(BUILD)/%,$(CLIENT_PROGS_SRCS)) \
            $(patsubst clients/%,$(BUILD)/%,$(CLIENT_PROG_DIRS))
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
BENCHES  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
FUZZERS  := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60
MO_FILES := $(patsubst po/%.po,$(BUILD)/locale/%/LC_MESSAGES/ledgerd.mo,$(wildcard po/*.po))

.PHONY: all programs tests benches run test bench valgrind format clean deps install fuzz fuzzers soak \
	check-layers pot
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

$(BUILD)/config.mk:
	@mkdir -p $(BUILD)
	@printf 'SAN ?= %s\nOPT ?= %s\n' '$(SAN)' '$(OPT)' > $@

# Each layer's objects see only its include paths (INC_<layer> above).
$(foreach l,$(LAYERS) clients,$(eval $(BUILD)/obj/$(l)/%.o: INC = $(INC_$(l))))

$(BUILD)/obj/%.o: %.c $(GEN_H) | $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(INC) -MMD -MP -c $< -o $@

$(BUILD)/ledgerd: $(BUILD)/obj/daemon/main.o $(CORE_OBJS) $(PROTO_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

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

pot:
	xgettext --from-code=UTF-8 --language=C --add-comments=TRANSLATORS --package-name=ledgerd \
		-k_ -kN_ -kP_:1,2 -kOPT:4 -kOPT_REQ:4 -kENUM:3 -kENUM_REQ:3 -o po/ledgerd.pot \
		$(sort $(wildcard proto/*.[ch] clients/*.[ch] clients/*/*.[ch] daemon/*.c))
	for po in $(wildcard po/*.po); do msgmerge -q --update --backup=none $$po po/ledgerd.pot; done

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

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(CORE_OBJS) $(CLIENT_OBJS) $(PROTO_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/fuzz/%: $(BUILD)/obj/fuzz/%.o $(BUILD)/obj/fuzz/harness.o $(CORE_OBJS) $(PROTO_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

fuzzers: $(FUZZERS)

# bench/pg.c, the PostgreSQL peer, is the only libpq client.
$(BUILD)/obj/bench/pg.o: CFLAGS += $(shell pkg-config --cflags libpq 2>/dev/null)
$(BUILD)/bench/pg: LDLIBS += $(shell pkg-config --libs libpq 2>/dev/null || echo -lpq)

deps:
	@scripts/install-deps.sh

# A new $(DATA) gets a demo province first (DEMO=0: not; DEMO_MEMBERS=N: its size).
run: deps
	@$(MAKE) --no-print-directory programs
	scripts/run.sh $(BUILD) $(DATA) $(URL) $(PUB)

test: deps check-layers
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 OPT=-O1 tests
	@tests/run.sh build/asan

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
# the programs, the systemd unit (paths filled in), the config example (an
# existing ledgerd.conf is kept; the example always goes to the doc directory)
# and the docs. For a system install: make install PREFIX=/usr SYSCONFDIR=/etc
install: programs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/ledgerd \
		$(DESTDIR)$(DOCDIR)
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	for mo in $(MO_FILES); do lang=$$(basename $$(dirname $$(dirname $$mo))); \
		install -D -m 644 $$mo $(DESTDIR)$(LOCALEDIR)/$$lang/LC_MESSAGES/ledgerd.mo; done
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		-e 's|@DOCDIR@|$(DOCDIR)|g' etc/ledgerd.service > $(DESTDIR)$(UNITDIR)/ledgerd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/ledgerd.service
	install -m 644 etc/ledgerd.conf $(DESTDIR)$(DOCDIR)/ledgerd.conf.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/ledgerd/ledgerd.conf ] || \
		install -m 644 etc/ledgerd.conf $(DESTDIR)$(SYSCONFDIR)/ledgerd/ledgerd.conf
	install -m 644 docs/*.md proto/ledger.proto $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(SYSCONFDIR)/ledgerd/plans
	for f in plans/*.yaml; do [ -e $(DESTDIR)$(SYSCONFDIR)/ledgerd/$$f ] || \
		install -m 644 $$f $(DESTDIR)$(SYSCONFDIR)/ledgerd/plans/; done

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
