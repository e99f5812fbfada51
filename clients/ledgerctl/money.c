/*
 * money.c — the commands that record money: dues paid, waived and refunded,
 * and funds passed between organisations.
 */
#include <string.h>

#include "commands.h"

const struct opt dues_pay_opts[] = {
	OPT("fen", O_FEN, "N", "amount in fen"),
	OPT("yuan", O_YUAN, "X.YY", "amount in yuan (at most 2 decimals)"),
	OPT_REQ("from", O_PERIOD, "YYYYMM", "first month paid"),
	OPT_REQ("to", O_PERIOD, "YYYYMM", "last month paid"),
	ENUM_REQ("method", ledger__payment_method__descriptor, "how it was paid"),
	OPT("receipt", O_STR, "NO", "receipt number"),
	OPT("additional", O_FLAG, NULL,
	    "a deliberate further payment for months already paid (else refused)"),
	END_OPTS,
};

/* --from and --to of the months paid or waived, in order: said before
 * anything is sent, naming the options (the ledger would name its fields). */
static int months_in_order(struct run *r, const struct args *a, ld_errinfo *e)
{
	uint32_t from = (uint32_t)val_of(a, "from")->u, to = (uint32_t)val_of(a, "to")->u;
	char f[16], t[16];
	if (to >= from)
		return 0;
	ldc_format_period(from, f);
	ldc_format_period(to, t);
	return usage_error(r, e, LD_E(INVALID_VALUE),
			   _("--to %s is before --from %s: give the first month with --from and "
			     "the last with --to"),
			   t, f);
}

int build_dues_pay(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__DuesPaid *b;
	int rc = months_in_order(r, a, e);
	if (rc)
		return rc;
	BODY(r, ev, DUES_PAID, b, e);
	b->member_id = a->pos[0];
	GET(a, "from", b, period_from, u);
	GET(a, "to", b, period_to, u);
	GET(a, "method", b, method, i);
	b->receipt = sval(a, "receipt");
	b->has_additional = b->additional = given(a, "additional");
	return get_money(r, a, 1, &b->has_amount_fen, &b->amount_fen, e);
}

const struct opt dues_waive_opts[] = {
	OPT_REQ("from", O_PERIOD, "YYYYMM", "first month waived"),
	OPT_REQ("to", O_PERIOD, "YYYYMM", "last month waived"),
	ENUM_REQ("reason", ledger__waiver_reason__descriptor, "why"),
	END_OPTS,
};

int build_dues_waive(struct run *r, const struct args *a, Ledger__Event *ev,
		     ld_errinfo *e)
{
	Ledger__DuesWaived *b;
	int rc = months_in_order(r, a, e);
	if (rc)
		return rc;
	BODY(r, ev, DUES_WAIVED, b, e);
	b->member_id = a->pos[0];
	GET(a, "from", b, period_from, u);
	GET(a, "to", b, period_to, u);
	GET(a, "reason", b, reason, i);
	return 0;
}

const struct opt dues_refund_opts[] = {
	OPT("fen", O_FEN, "N", "amount in fen"),
	OPT("yuan", O_YUAN, "X.YY", "amount in yuan (at most 2 decimals)"),
	OPT_REQ("paid-seq", O_U64, "SEQ", "the dues payment refunded"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

int build_dues_refund(struct run *r, const struct args *a, Ledger__Event *ev,
		      ld_errinfo *e)
{
	Ledger__DuesRefunded *b;
	BODY(r, ev, DUES_REFUNDED, b, e);
	b->member_id = a->pos[0];
	GET(a, "paid-seq", b, paid_seq, u);
	b->note = sval(a, "note");
	return get_money(r, a, 1, &b->has_amount_fen, &b->amount_fen, e);
}

const struct opt funds_opts[] = {
	OPT("fen", O_FEN, "N", "amount in fen"),
	OPT("yuan", O_YUAN, "X.YY", "amount in yuan (at most 2 decimals)"),
	ENUM_REQ("purpose", ledger__fund_purpose__descriptor, "what for"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

int build_funds(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__FundsAllocated *b;
	BODY(r, ev, FUNDS_ALLOCATED, b, e);
	b->from_org = a->pos[0];
	b->to_org = a->pos[1];
	GET(a, "purpose", b, purpose, i);
	b->note = sval(a, "note");
	return get_money(r, a, 1, &b->has_amount_fen, &b->amount_fen, e);
}
