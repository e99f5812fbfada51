/*
 * main.c — ledgerctl, the command-line client of ledgerd: the table of
 * commands, help, and main.
 *
 *   ledgerctl [--url URL] [--json] [--timeout MS] COMMAND [ARGUMENTS] [OPTIONS]
 *
 * A command that records something builds one ledger.Event from its
 * arguments and appends it; the read commands print events, or the derived
 * views of the projections (member, coverage, history, transfers). Commands are a
 * table (`commands`, below): a name, positional arguments, options, and
 * the function that builds the event body or runs the command. Help, option
 * parsing (getopt_long), conversion of values and error reporting are generic,
 * so adding a command is one table entry, one option list and one function
 * (in the file of its family: commands.h).
 *
 * Exit status: 0 success; 1 the ledger rejected the request (or an event of
 * a batch); 2 usage error, nothing was sent; 3 the ledger could not be reached
 * or its answer could not be read; 4 `verify` or `history --verify-chain`
 * found an event whose hash does not match its content or the chain.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

/* ------------------------------------------------------------------ */
/* The commands                                                        */
/* ------------------------------------------------------------------ */

static const struct cmd commands[] = {
	{"org add", "ID", N_("register an organisation"), org_add_opts, build_org_add, NULL, 0, NULL},
	{"org update", "ID", N_("change an organisation's particulars"), org_update_opts,
	 build_org_update, NULL, 0, NULL},
	{"org dissolve", "ID", N_("dissolve an organisation or merge it into another"),
	 org_dissolve_opts, build_org_dissolve, NULL, 0, NULL},
	{"join", "MEMBER", N_("record that a worker joined"), join_opts, build_join, NULL, 0, NULL},
	{"affiliate", "MEMBER", N_("affiliate a member with a platform or residence union"),
	 affiliate_opts, build_affiliate, NULL, 0, NULL},
	{"disaffiliate", "MEMBER", N_("end an affiliation"), disaffiliate_opts, build_disaffiliate,
	 NULL, 0, NULL},
	{"transfer", "MEMBER", N_("move a membership to another organisation"), transfer_opts,
	 build_transfer, NULL, 0, NULL},
	{"release", "MEMBER", N_("release a member to another organisation, which is to accept it (转出)"),
	 release_opts, build_release, NULL, 0,
	 N_("The first step of a transfer between two unions: --from (the member's\n"
	 "organisation, which a clerk of its scope releases it from) and --to (the one\n"
	 "that is to accept it, which need not be in the clerk's scope). The member\n"
	 "stays in --from until --to accepts ('ledgerctl accept MEMBER' by a clerk of\n"
	 "--to's scope); meanwhile a second release, a transfer or an end of the member\n"
	 "is refused. 'ledgerctl withdraw MEMBER --reason ...' withdraws the release (a\n"
	 "clerk of --from's scope), 'ledgerctl decline MEMBER --reason ...' declines it\n"
	 "(one of --to's); either voids it. 'ledgerctl transfers --org\n"
	 "ORG --pending' lists the releases waiting for acceptance (--in: those to accept\n"
	 "there; --out: those it released).")},
	{"accept", "[SEQ|MEMBER]",
	 N_("accept a pending release into its organisation (转入), named by its seq or its member"),
	 accept_opts, build_accept, NULL, 0,
	 N_("The second step of a transfer between two unions: the member of the release\n"
	 "moves into the release's --to now. The release is named by its SEQ, or by its\n"
	 "MEMBER: the member's one release that waits for acceptance, found in the\n"
	 "member's history (an error says so when none waits, or when --to or --from\n"
	 "names another organisation than the release's; a member whose id is a number:\n"
	 "--member M and no SEQ). The acceptance repeats the release (member, from, to,\n"
	 "reason), read from the ledger unless a SEQ and --member, --from, --to and\n"
	 "--reason are all given; the ledger checks them against the release. To decline\n"
	 "it instead:\n"
	 "'ledgerctl decline MEMBER --reason ...' (the member stays).")},
	{"decline", "[SEQ|MEMBER]",
	 N_("decline a release waiting for acceptance here, named by its seq or its member"),
	 decline_opts, build_decline, NULL, 0,
	 N_("The destination's refusal of the first step of a transfer: the release is\n"
	 "voided (as 'ledgerctl void SEQ' would: the member stays where it was). Named\n"
	 "by its SEQ, which must be a release, or by its MEMBER, whose one waiting\n"
	 "release it is (--to ORG: checked to be the organisation it is to). A clerk of\n"
	 "the release's --to records it.")},
	{"withdraw", "[SEQ|MEMBER]",
	 N_("withdraw a release from here that waits for acceptance, named by its seq or its member"),
	 withdraw_opts, build_withdraw, NULL, 0,
	 N_("The source's taking back of the first step of a transfer: the release is\n"
	 "voided (as 'ledgerctl void SEQ' would: the member stays). Named by its SEQ,\n"
	 "which must be a release, or by its MEMBER, whose one waiting release it is\n"
	 "(--from ORG: checked to be the organisation it is from). A clerk of the\n"
	 "release's --from records it.")},
	{"end", "MEMBER", N_("end a membership"), end_opts, build_end, NULL, 0, NULL},
	{"profile", "MEMBER", N_("change a member's group, employment, platform or region"),
	 profile_opts, build_profile, NULL, 0, NULL},
	{"forget", "MEMBER", N_("forget a member's personal data: the server destroys its key (crypto-shredding)"),
	 forget_opts, build_forget, NULL, 0, NULL},
	{"dues pay", "MEMBER", N_("record a dues payment"), dues_pay_opts, build_dues_pay, NULL, 0, NULL},
	{"dues waive", "MEMBER", N_("waive dues for some months"), dues_waive_opts, build_dues_waive,
	 NULL, 0, NULL},
	{"dues refund", "MEMBER", N_("refund (part of) a dues payment"), dues_refund_opts,
	 build_dues_refund, NULL, 0, NULL},
	{"funds", "FROM_ORG TO_ORG", N_("record funds passed between organisations"), funds_opts,
	 build_funds, NULL, 0, NULL},
	{"service", "KIND", N_("record a service delivered"), service_opts, build_service, NULL, 0, NULL},
	{"activity", "KIND", N_("record an activity held"), activity_opts, build_activity, NULL, 0, NULL},
	{"station add", "ID", N_("record a service station opened"), station_add_opts,
	 build_station_add, NULL, 0, NULL},
	{"workforce", "REGION", N_("record an estimate of the workforce of a region"),
	 workforce_opts, build_workforce, NULL, 0, NULL},
	{"void", "SEQ", N_("cancel an event"), void_opts, build_void, NULL, 0, NULL},
	{"amend", "SEQ", N_("correct an event: amend SEQ --reason R COMMAND ARGS..."), amend_opts,
	 build_amend, NULL, CMD_REST,
	 N_("COMMAND ARGS... is the command that records the corrected event, in full:\n"
	 "  ledgerctl amend 42 --reason 'wrong amount' dues pay M1 --fen 1500 \\\n"
	 "      --from 202401 --to 202412 --method cash\n"
	 "The options of the amendment itself (--reason, --event-id, --at, ...) go before\n"
	 "COMMAND; an --at or --at-us after it corrects the time the event happened.\n"
	 "Joins, affiliations, transfers, ends, dues payments and waivers, funds,\n"
	 "services, activities, stations and workforce estimates can be amended.")},
	{"batch", "FILE", N_("append the events of FILE, one command per line ('-': stdin)"),
	 batch_opts, NULL, exec_batch, 0,
	 N_("Lines hold the arguments of one recording command each (\"join M1 --org O1 ...\"),\n"
	 "quoted as in a shell; blank lines and lines starting with '#' are skipped.\n"
	 "Every line is checked before anything is sent; then all events go in one\n"
	 "request (--atomic) or in requests of 10,000. A line without --event-id gets\n"
	 "a random one: to make a file safe to send again, give each line its own\n"
	 "--event-id and --at, and a second run reports duplicates.")},
	{"import", "FILE", N_("import a collective registration list (CSV, UTF-8, GB18030 or UTF-16)"),
	 import_opts, NULL, exec_import, 0,
	 N_("FILE lists one worker per row, with a header naming the columns in Chinese or\n"
	 "English: 姓名/name, 身份证号/national_id, 职业群体/worker_group and\n"
	 "用工关系/employment are required; 地区/region and 入会日期/join_date unless\n"
	 "--region / --date give them; 手机/phone, 平台/platform, 入会渠道/channel\n"
	 "(default collective-registration), 入会路径/join_path (default from the\n"
	 "employment relation) and 会员编号/member_id (default: the ledger gives P- and\n"
	 "16 hex digits of the person hash) are optional. Values may be English names\n"
	 "or Chinese labels (网约配送员, 劳务派遣, 集体登记). National IDs and phones\n"
	 "are checked here as the ledger checks them; the IDs are sent to the ledger,\n"
	 "which hashes them as it does a join's (a person already a member is refused,\n"
	 "naming the member) and never stores them. Phones are not recorded.\n\n"
	 "Each row's event id is derived by the ledger from the row's join, so importing\n"
	 "the same file again records nothing new (duplicates). Rows go in\n"
	 "requests of --batch; a bad row never stops the others. Rejected rows are listed\n"
	 "in FILE.errors.csv (row, column, reason; in the file's encoding). Exit status\n"
	 "1 when a row was rejected. --atomic: every row in one all-or-nothing request.")},
	{"backup", "DIR", N_("copy the log into DIR while the ledger runs (hot backup)"), no_opts, NULL,
	 exec_backup, 0,
	 N_("DIR is a directory on the ledger's machine, absent or empty; a relative DIR is\n"
	 "taken from the current directory. The copy (DIR/data.mdb, compacted) is one\n"
	 "consistent snapshot of the log while appends go on; the answer comes once it is\n"
	 "on disk, and names the seq it holds at least. To restore, start ledgerd on a\n"
	 "copy of DIR: the projections are rebuilt from the log. Waits up to a day unless\n"
	 "--timeout says otherwise. See docs/OPERATIONS.md.")},
	{"get", "SEQ", N_("print one event"), no_opts, NULL, exec_get, 0, NULL},
	{"log", "", N_("print the log"), log_opts, NULL, exec_log, 0,
	 N_("Events from --from (default 1), a page of at most --limit (default 1000, at\n"
	    "most 10,000); with --to, none after it. --type, --org and --region filter as\n"
	    "export does; a line on stderr says where the next page starts.")},
	{"stream", "NAME", N_("print a stream (member/ID, org/ID, region/CODE)"), stream_opts, NULL,
	 exec_stream, 0, NULL},
	{"head", "", N_("print the head of the log"), no_opts, NULL, exec_head, 0, NULL},
	{"whoami", "", N_("print who the ledger takes this connection for: identity, role, organisations"),
	 no_opts, NULL, exec_whoami, 0, NULL},
	{"member", "MEMBER", N_("print a member's current view"), member_opts, NULL, exec_member, 0, wait_notes},
	{"coverage", "ORG", N_("print the coverage of an organisation's subtree"),
	 coverage_opts, NULL, exec_coverage, 0,
	 N_("One row per organisation, indented by its depth below ORG: members of the\n"
	 "subtree (each once), direct members, affiliations into the subtree, grassroots\n"
	 "units with members / units, and the share of members registered by real name\n"
	 "and paid up through --period; under each row its members per worker group and,\n"
	 "where the region has a workforce estimate, the coverage of the group: members\n"
	 "now against the estimate in force at --at (default now), the one with the latest\n"
	 "business time not after it (of two at the same time, the one recorded last).\n"
	 "--json has everything, join channels and each estimate's time and seq included.\n\n"
	 "With --wait-seq the ledger waits until its projections have applied that seq,\n"
	 "or answers ERR_NOT_CAUGHT_UP after --wait-ms.")},
	{"history", "MEMBER", N_("print a member's history with its corrections"), history_opts, NULL,
	 exec_history, 0,
	 N_("One line per event, in seq order: seq, when it happened, when it was recorded,\n"
	 "actor, kind, where it moved the member (from \u2192 to), why, and the start of its\n"
	 "hash; a voided event is marked \"VOIDED by seq N\", an amended one \"AMENDED by\n"
	 "seq N\", and the correction itself is shown under it. A join after an end is\n"
	 "marked \"rejoin\". The raw stream: 'ledgerctl stream member/MEMBER'.\n\n"
	 "--verify-chain recomputes each event's hash from its content, its seq and the\n"
	 "previous event's hash, prints \"hash ok\" or \"HASH MISMATCH\", and exits with\n"
	 "status 4 if any event fails. --wait-seq is checked as for 'member', though the\n"
	 "history is read from the log itself.\n\n"
	 "--verify FILE proves the history against a tree head saved earlier with\n"
	 "'tree-head --save FILE': the saved head's signature, the current head's (same\n"
	 "key), a consistency proof from the saved tree to the current one, and an\n"
	 "inclusion proof of every event shown, whose hash is recomputed from its content.\n"
	 "Any failure prints VERIFICATION FAILED and exits with status 4.")},
	{"transfers", "", N_("print the transfers of an organisation's subtree"),
	 transfers_opts, NULL, exec_transfers, 0,
	 N_("One line per transfer, by when it happened: IN (into the subtree of --org),\n"
	 "OUT (out of it) or WITHIN (both ends in it), the member, from \u2192 to, why, when,\n"
	 "and its seq; \"(truncated)\" if more than --limit matched.")},
	{"progress", "PLAN", N_("print a plan's progress per target, year and city"), progress_opts,
	 NULL, exec_progress, 0,
	 N_("A block per target of the plan (plans/*.yaml; 'ledgerctl plans' lists them):\n"
	 "per window (a year, or \"total\" for a cumulative target and an average a\n"
	 "year) and region (the province, then each city), the figure reached and the\n"
	 "target, the percent, a bar, the status against the pace (target x elapsed\n"
	 "share of the window; an average a year: its target a year x the years run:\n"
	 "AHEAD above 105%, ON TRACK from 95%, BEHIND below; ACHIEVED, MISSED, NOT\n"
	 "STARTED) and what the rest of the window needs per day. City targets are the\n"
	 "province's shared out by the workforce estimates of each city; \"-\" where\n"
	 "there are none.\n"
	 "Amounts are in yuan; a ratio shows its share of the events counted.")},
	{"series", "PLAN TARGET", N_("print a target's figure day by day (or week by week)"),
	 series_opts, NULL, exec_series, 0,
	 N_("What each day (--week: each week) added to the target's figure in the region\n"
	 "(the province unless --region), from the plan-progress projection: the days\n"
	 "with events counted, each with what it added, the figure so far and its\n"
	 "events; then the events behind the figure by kind, with the voids and\n"
	 "amendments that changed it. Days are the plan's local days; by default the\n"
	 "plan's whole period, --year one year of it, --from/--to any days of it.\n"
	 "Over a target's whole window the days add up to its figure in 'progress'.")},
	{"plans", "", N_("list the plans and their targets"), no_opts, NULL, exec_plans, 0, NULL},
	{"tree-head", "", N_("print the signed head of the log's Merkle tree (and save it)"),
	 tree_head_opts, NULL, exec_tree_head, 0,
	 N_("Fetches the signed tree head (size, root, time, Ed25519 signature) and checks\n"
	 "its signature, with --key if given, else with the key the server sends along.\n"
	 "--save FILE keeps it (JSON) for 'history MEMBER --verify FILE' later: an\n"
	 "auditor saves heads, and any later answer must extend them.")},
	{"public-key", "", N_("print the key that signs the tree heads"), no_opts, NULL,
	 exec_public_key, 0, NULL},
	{"witness", "", N_("keep every signed tree head and check each extends the last"),
	 witness_opts, NULL, exec_witness, 0,
	 N_("An auditor's witness, run outside the ledger's machine. Fetches the signed tree\n"
	 "head and checks it against the last one kept in --file: the new tree must\n"
	 "extend it (a consistency proof from its size, checked here), with the same key\n"
	 "(--key, else the key of the heads in the file). A head that does not is a\n"
	 "history rewritten after it was signed: INCONSISTENT, naming the seqs where it\n"
	 "changed (between the newest head kept that the tree still extends and the next\n"
	 "one), and exit status 4. Otherwise the head is added to the file, one JSON\n"
	 "object a line, each signature checked again whenever the file is read.\n\n"
	 "--follow goes on with every head the live feed publishes (one follows every\n"
	 "commit; --feed URL, else the address the ledger gives) and asks for the head\n"
	 "every --interval seconds, until SIGINT or SIGTERM (exit 0). This is what makes\n"
	 "'verify' mean something against someone who can write the data directory:\n"
	 "see docs/OPERATIONS.md, \"The signing key, and auditors' witnesses\".")},
	{"verify", "", N_("recompute the hash chain of the log and report the first bad seq"),
	 verify_opts, NULL, exec_verify, 0,
	 N_("Reads the log in pages and checks every event from --from to --to: that it is\n"
	 "the seq that follows, that its prev_hash is the hash of the event before, and\n"
	 "that its stored hash is the one its content gives. From seq 1, the Merkle root\n"
	 "of the signed tree head is recomputed from the hashes too. Prints \"hash chain\n"
	 "intact\" or names the first seq that fails and exits with status 4.\n\n"
	 "What it proves is that the log agrees with itself, and the signed head with\n"
	 "the log. It cannot tell a history rewritten and signed again (by someone who\n"
	 "can write the data directory) from the original: keep tree heads outside the\n"
	 "ledger ('ledgerctl witness') and check them.")},
	{"export", "", N_("write events to stdout as JSON lines or CSV, streaming"), export_opts, NULL,
	 exec_export, 0,
	 N_("Events --from SEQ --to SEQ (default: from 1 to the head when the export\n"
	    "starts), at most --limit of them, read with the subscription protocol in pages\n"
	    "of 10,000, written as they come; log takes the same range and filters. jsonl:\n"
	    "one event per line, as 'ledgerctl --json get' shows it (times in µs, each with\n"
	    "its RFC 3339 form in the ledger's time zone beside it, bytes in hex, enums by\n"
	    "name). csv: a header, then seq, recorded_at, recorded_at_rfc3339, occurred_at,\n"
	    "occurred_at_rfc3339, kind, stream, version, actor, event_id, hash and the body\n"
	    "as JSON. --type, --org and --region filter as subscriptions do\n"
	    "(proto/PROTOCOL.md). Progress goes to stderr when it is a terminal (or with\n"
	    "--progress).")},
	{"subscribers", "", N_("list the subscribers the server has seen"), no_opts, NULL,
	 exec_subscribers, 0,
	 N_("Each subscriber id the server has seen since it started (the last 256), most\n"
	 "recent first: the last seq it was given, its lag behind the head, when it last\n"
	 "asked, its requests and events, whether a long-poll of it waits now, and the\n"
	 "address of its connection.")},
	/* Before "cluster": the first word alone would take them. */
	{"cluster add", "ID,ADDR,URL", N_("add a node to a replicated ledger (admin)"),
	 cluster_add_opts, NULL, exec_cluster_add, 0,
	 N_("Sent to the leader (give every node's URL: --url a,b,c). The node, started\n"
	    "with --join (an empty data directory, or a hot backup of a node), is added as a\n"
	    "stand-by: it replicates and catches up, through the page protocol if the others\n"
	    "have taken snapshot markers past its log. Then, unless --standby, once its log\n"
	    "has caught up, it is made a voter; the answer waits for that. A catch-up that\n"
	    "keeps failing fails the addition (ERR_INVALID_STATE) and the node is taken out\n"
	    "again.\n"
	    "ADDR is its raft address (A.B.C.D:PORT, private network), URL its client URL.\n"
	    "One change at a time. Admin only. See docs/REPLICATION.md, \"Membership and\n"
	    "leadership\".")},
	{"cluster remove", "ID", N_("remove a node from a replicated ledger (admin)"),
	 cluster_remove_opts, NULL, exec_cluster_remove, 0,
	 N_("Sent to the leader. A removed leader steps down once the change commits; stop\n"
	    "the removed node afterwards. A voter is not removed when the voters left would\n"
	    "lack a majority that answers the leader (no write would commit until the silent\n"
	    "ones are back): ERR_INVALID_STATE names them; --force removes it anyway. Admin\n"
	    "only.")},
	{"cluster transfer", "[ID]", N_("hand the leadership to another node (admin)"), no_opts,
	 NULL, exec_cluster_transfer, 0,
	 N_("Sent to the leader: it hands the leadership to node ID, or to any up-to-date\n"
	    "voter. C-Raft 0.15 may let a transfer lapse: ERR_BUSY then, and the same leader\n"
	    "goes on; try again. Admin only.")},
	{"cluster", "", N_("print the nodes of a replicated ledger: role, term, indexes, lag"),
	 no_opts, NULL, exec_cluster, 0, NULL},
	{"projections", "", N_("print the state of the projections"), no_opts, NULL, exec_projections,
	 0, N_("Each projection's checkpoint (the last seq applied), how many events and\n"
	 "milliseconds it lags behind the log, the events applied since the server\n"
	 "started, and whether it stopped on an event it could not apply (and why).")},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Whether word is the command's first (i = 0) or second word. */
static int word_is(const char *name, int i, const char *word)
{
	const char *w = name;
	if (i == 1) {
		w = strchr(name, ' ');
		if (!w)
			return 0;
		w++;
	}
	size_t len = strcspn(w, " ");
	return strlen(word) == len && !strncmp(w, word, len);
}

/* The command named by argv[0] (and argv[1] for two-word names); *words is
 * how many words the name took. NULL if none. */
const struct cmd *find_cmd(int argc, char **argv, int *words)
{
	for (size_t i = 0; argc > 0 && i < NCOMMANDS; i++) {
		const struct cmd *c = &commands[i];
		if (!word_is(c->name, 0, argv[0]))
			continue;
		if (!strchr(c->name, ' ')) {
			*words = 1;
			return c;
		}
		if (argc > 1 && word_is(c->name, 1, argv[1])) {
			*words = 2;
			return c;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Help                                                                */
/* ------------------------------------------------------------------ */

/* Prints lead and a blank-separated list from column indent, wrapped at 79. */
static void print_wrapped(const char *lead, const char *list, int indent)
{
	int margin = indent + (int)strlen(lead);
	int col = printf("%*s%s", indent, "", lead);
	for (const char *p = list; *p;) {
		p += strspn(p, " ");
		size_t len = strcspn(p, " ");
		if (!len)
			break;
		if (col > margin && col + 1 + (int)len > 79) {
			printf("\n%*s", margin, "");
			col = margin;
		} else if (col > margin) {
			col += printf(" ");
		}
		col += printf("%.*s", (int)len, p);
		p += len;
	}
	putchar('\n');
}

static void print_opt_help(const struct opt *o)
{
	char left[64], names[1024];
	const char *arg = o->arg;
	if (!o->help) /* kept only to say it is gone */
		return;
	if (o->type == O_ENUM)
		arg = "NAME";
	if (o->type == O_FLAG)
		snprintf(left, sizeof(left), "--%s", o->name);
	else
		snprintf(left, sizeof(left), "--%s %s", o->name, arg ? arg : "VALUE");
	printf("  %-26s %s%s\n", left, o->help ? _(o->help) : "",
	       o->flags & OPT_REQUIRED ? _(" (required)") : "");
	if (o->type == O_ENUM) {
		enum_names(o->en, names, sizeof(names));
		print_wrapped(_("one of: "), names, 31);
	}
}

void print_cmd_help(const struct cmd *c)
{
	const char *summary = _(c->summary);
	printf(_("usage: ledgerctl %s%s%s [OPTIONS]%s\n"), c->name, *c->pos ? " " : "", c->pos,
	       c->flags & CMD_REST ? _(" COMMAND ARGS...") : "");
	/* The summary as a sentence: capitalised (English) and ended. */
	printf("\n%c%s%s\n",
	       summary[0] - ('a' <= summary[0] && summary[0] <= 'z' ? 'a' - 'A' : 0), summary + 1,
	       ld_i18n_zh() ? "。" : ".");
	if (c->notes)
		printf("\n%s\n", _(c->notes));
	if (c->opts[0].name) {
		printf("\n%s\n", _("options:"));
		for (const struct opt *o = c->opts; o->name; o++)
			print_opt_help(o);
	}
	if (c->build) {
		printf("\n%s\n", _("event options:"));
		for (const struct opt *o = event_opts; o->name; o++)
			print_opt_help(o);
	}
	if (!strcmp(c->name, "service") || !strcmp(c->name, "activity")) {
		char names[1024];
		enum_names(!strcmp(c->name, "service") ? &ledger__service_kind__descriptor
						       : &ledger__activity_kind__descriptor,
			   names, sizeof(names));
		putchar('\n');
		print_wrapped(_("KIND is one of: "), names, 0);
	}
	int enums = c->build != NULL;
	for (const struct opt *o = c->opts; o->name; o++)
		enums |= o->type == O_ENUM;
	if (enums)
		printf("\n%s\n", _("Enum values are accepted in any case, with '-' or '_', as an "
				   "unambiguous\nfirst or last part (\"rider\") or by their Chinese "
				   "name (网约配送员). Money:\n--fen N, or --yuan X.YY. Times are "
				   "in the ledger's time zone (--tz). The\nglobal options (--url, "
				   "--json, --dry-run, --timeout, --tz) may also follow the\ncommand."));
	else
		printf("\n%s\n", _("The global options (--url, --json, --dry-run, --timeout, --tz) "
				   "may also follow\nthe command."));
}

static void print_usage(FILE *f)
{
	fprintf(f, "%s\n\n%s\n\n%s\n",
		_("usage: ledgerctl [--url URL] [--json] [--dry-run] [--timeout MS] [--tz ZONE]\n"
		  "                 COMMAND [ARGS] [OPTIONS]\n"
		  "       ledgerctl help [COMMAND]"),
		_("Records events in ledgerd and reads them back."), _("commands:"));
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char left[48];
		snprintf(left, sizeof(left), "%s %s", commands[i].name, commands[i].pos);
		fprintf(f, "  %-26s %s\n", left, _(commands[i].summary));
	}
	fprintf(f, "\n%s\n", _("global options:"));
	fprintf(f, _("  --url URL                  the ledger (default $LEDGER_URL, else %s)\n"),
		LDC_DEFAULT_URL);
	fputs(_("  --tls-cert FILE            client certificate for tls+tcp:// ($LEDGER_TLS_CERT)\n"
		"  --tls-key FILE             its key ($LEDGER_TLS_KEY)\n"
		"  --tls-ca FILE              CA of the server's certificate ($LEDGER_TLS_CA)\n"
		"  --json                     print the answer as JSON\n"
		"  --dry-run                  print the events as JSON instead of sending them\n"),
	      f);
	fprintf(f, _("  --timeout MS               wait at most MS ms per request (default %d); a\n"
		     "                             ledger that accepts no connection is reported\n"
		     "                             after %d ms\n"),
		LDC_DEFAULT_TIMEOUT_MS, LDC_CONNECT_MS);
	fprintf(f, _("  --tz ZONE                  the ledger's time zone, for times read and shown\n"
		     "                             (default $LEDGER_TZ, else %s)\n"),
		LDC_DEFAULT_TZ);
	fputs(_("  -h, --help                 this text; help COMMAND or COMMAND --help: the\n"
		"                             command's\n"
		"  -V, --version              the version\n\n"
		"environment: LEDGER_URL, LEDGER_TZ; LANG=zh_CN.UTF-8: messages in Chinese\n"
		"exit status: 0 done, 1 rejected by the ledger, 2 usage error (nothing sent),\n"
		"             3 ledger unreachable or answer unreadable,\n"
		"             4 verify, history --verify(-chain) or tree-head found a hash,\n"
		"               proof or signature that does not match\n"),
	      f);
}

/* Help for a group of two-word commands ("ledgerctl org"). */
static int print_group(const char *word)
{
	int found = 0;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (!strchr(commands[i].name, ' ') || !word_is(commands[i].name, 0, word))
			continue;
		if (!found++)
			printf(_("usage: ledgerctl %s SUBCOMMAND ...\n\nsubcommands:\n"), word);
		printf("  %-26s %s\n", commands[i].name, _(commands[i].summary));
	}
	return found;
}

/* help [COMMAND...]: the usage, a command's help or a group's. */
static int help(struct run *r, int argc, char **argv, ld_errinfo *e)
{
	int words;
	if (argc == 0) {
		print_usage(stdout);
		return 0;
	}
	const struct cmd *c = find_cmd(argc, argv, &words);
	if (c && words == argc) {
		print_cmd_help(c);
		return 0;
	}
	if (argc == 1 && print_group(argv[0]))
		return 0;
	snprintf(r->what, sizeof(r->what), "help");
	return usage_error(r, e, LD_E(INVALID_VALUE), _("'%s' is not a command (see 'ledgerctl help')"),
			   argv[argc > 1 && c ? words : 0]);
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static int run_command(struct run *r, int argc, char **argv, ld_errinfo *e)
{
	int words, rc;
	if (!strcmp(argv[0], "help"))
		return help(r, argc - 1, argv + 1, e);
	const struct cmd *c = find_cmd(argc, argv, &words);

	if (!c) {
		int group = argc > 0 && (argc == 1 || !strcmp(argv[1], "--help"));
		snprintf(r->what, sizeof(r->what), "%s", argv[0]);
		if (group && print_group(argv[0]))
			return argc == 1 ? usage_error(r, e, LD_E(MISSING_FIELD),
						       _("missing subcommand")) : 0;
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   _("unknown command (see 'ledgerctl help')"));
	}
	snprintf(r->what, sizeof(r->what), "%s", c->name);
	if (c->build) {
		Ledger__Event *ev = arena_new(&r->arena, sizeof(*ev));
		if (!ev)
			return out_of_memory(e);
		ledger__event__init(ev);
		if ((rc = build_event(r, argc, argv, ev, 0, e)) != 0 || !ev->body_case)
			return rc;
		return append_and_report(r, &ev, 1, 0, NULL, NULL, e);
	}
	struct args a;
	if ((rc = parse_args(r, c, argc - words + 1, argv + words - 1, &a, e)) != 0 || a.help)
		return rc;
	return c->exec(r, &a, e);
}

static const struct option main_opts[] = {
	{"url", required_argument, NULL, 'u'},
	{"json", no_argument, NULL, 'j'},
	{"dry-run", no_argument, NULL, 'n'},
	{"timeout", required_argument, NULL, 't'},
	{"tz", required_argument, NULL, 'z'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"tls-cert", required_argument, NULL, 'C'},
	{"tls-key", required_argument, NULL, 'K'},
	{"tls-ca", required_argument, NULL, 'A'},
	{NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
	struct run r = {0};
	ld_errinfo e = {0};
	uint32_t ms;
	int ch, rc, version = 0;

	if ((rc = ldc_cli_init("ledgerctl")) != 0)
		return rc;
	r.url = ldc_cli_url();
	r.timeout_ms = LDC_DEFAULT_TIMEOUT_MS;
	r.tls.cert = getenv("LEDGER_TLS_CERT");
	r.tls.key = getenv("LEDGER_TLS_KEY");
	r.tls.ca = getenv("LEDGER_TLS_CA");
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:hV", main_opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			r.url = optarg;
			break;
		case 'C':
			r.tls.cert = optarg;
			break;
		case 'K':
			r.tls.key = optarg;
			break;
		case 'A':
			r.tls.ca = optarg;
			break;
		case 'j':
			r.json = 1;
			break;
		case 'n':
			r.dry_run = 1;
			break;
		case 't':
			if (ldc_parse_u32(optarg, &ms) != 0 || ms == 0 || ms > MAX_TIMEOUT_MS) {
				ldc_cli_error(_("--timeout '%s' is not a number of milliseconds "
						"(1-%d)"),
					      optarg, MAX_TIMEOUT_MS);
				return EXIT_USAGE;
			}
			r.timeout_ms = (int)ms;
			break;
		case 'z':
			if ((rc = ldc_cli_tz(optarg)) != 0)
				return rc;
			break;
		case 'h':
			print_usage(stdout);
			return 0;
		case 'V':
			version = 1;
			break;
		case ':':
			ldc_cli_error(_("option '%s' needs a value"), argv[optind - 1]);
			return EXIT_USAGE;
		default:
			ldc_cli_error(_("unknown option '%s'"), argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (version) {
		ldc_cli_version(r.json);
		return 0;
	}
	if (optind >= argc) {
		print_usage(stderr);
		return EXIT_USAGE;
	}

	rc = run_command(&r, argc - optind, argv + optind, &e);
	int status = 0;
	if (rc != 0) {
		if (!r.reported)
			print_error(r.what, rc, e.message, e.field, e.seq, !r.usage);
		if (r.usage)
			status = EXIT_USAGE;
		else if (r.verify_failed)
			status = EXIT_VERIFY;
		else if (rc == LD_E(UNAVAILABLE) || rc == LD_E(MALFORMED))
			status = EXIT_UNAVAILABLE;
		else
			status = EXIT_REJECTED;
	}
	ldc_close(r.conn);
	arena_free(&r.arena);
	return status;
}
