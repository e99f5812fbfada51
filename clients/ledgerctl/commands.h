/*
 * commands.h — the commands of ledgerctl, by family: each file provides the
 * option lists and functions that main.c's table of commands names.
 *
 * A build_ function fills the body of the event its command records, from
 * the parsed arguments (record.c adds the envelope and appends it); an exec_
 * function runs any other command. Both return 0 or a negative LD_E() code
 * with e filled (usage errors through usage_error).
 */
#ifndef LEDGERCTL_COMMANDS_H
#define LEDGERCTL_COMMANDS_H

#include "ledgerctl.h"

/* A command that records an event: its options and its builder. */
#define RECORDS(name)                                                                              \
	extern const struct opt name##_opts[];                                                     \
	build_fn build_##name

/* orgs.c: organisations and the workforce they organise */
RECORDS(org_add);
RECORDS(org_update);
RECORDS(org_dissolve);
RECORDS(workforce);

/* members.c: a membership's life and the member's personal data */
RECORDS(join);
RECORDS(affiliate);
RECORDS(disaffiliate);
RECORDS(transfer);
RECORDS(release);
RECORDS(accept);
RECORDS(decline);
RECORDS(withdraw);
RECORDS(end);
RECORDS(profile);
RECORDS(forget);
/* Refuses --id-key and LEDGER_ID_KEY, saying why they are gone (join,
 * import): 0 when neither is given. */
int id_key_gone(struct run *r, const struct args *a, ld_errinfo *e);

/* money.c: dues and funds */
RECORDS(dues_pay);
RECORDS(dues_waive);
RECORDS(dues_refund);
RECORDS(funds);

/* services.c: services, activities and the stations that deliver them */
RECORDS(service);
RECORDS(activity);
RECORDS(station_add);

/* corrections.c: voids and amendments of recorded events */
RECORDS(void);
RECORDS(amend);

/* reads.c: the log itself */
extern const struct opt log_opts[], stream_opts[];
exec_fn exec_get, exec_log, exec_stream, exec_head, exec_whoami;

/* views.c: what the projections answer */
extern const char wait_notes[]; /* help of the commands with WAIT_OPTS */
extern const struct opt member_opts[], coverage_opts[], transfers_opts[], progress_opts[],
    series_opts[];
exec_fn exec_member, exec_coverage, exec_transfers, exec_progress, exec_series, exec_plans;

/* history.c: a member's history, checked against the chain or a tree head */
extern const struct opt history_opts[];
exec_fn exec_history;

/* proofs.c: the hash chain and the signed Merkle tree heads */
extern const struct opt verify_opts[], tree_head_opts[];
exec_fn exec_verify, exec_tree_head, exec_public_key;

/* witness.c: every signed tree head kept, each checked against the last */
extern const struct opt witness_opts[];
exec_fn exec_witness;

/* export.c: the log streamed out as JSON lines or CSV */
extern const struct opt export_opts[];
exec_fn exec_export;

/* ops.c: the running ledger: projections, subscribers, hot backup */
exec_fn exec_projections, exec_subscribers, exec_backup, exec_cluster;

/* cluster.c: a replicated ledger's membership and leadership */
extern const struct opt cluster_add_opts[];
extern const struct opt cluster_remove_opts[];
exec_fn exec_cluster_add, exec_cluster_remove, exec_cluster_transfer;

/* batch.c: a file of recording command lines, appended together */
extern const struct opt batch_opts[];
exec_fn exec_batch;

/* import.c: a collective registration list (clients/importer.h) */
extern const struct opt import_opts[];
exec_fn exec_import;

#endif
