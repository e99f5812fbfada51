/* error.c — names and descriptions of the project's error codes. */
#include "error.h"

#include <stddef.h>

#include "i18n.h"

static const char *const descriptions[] = {
	[LEDGER__ERROR_CODE__ERR_MALFORMED] = N_("malformed message"),
	[LEDGER__ERROR_CODE__ERR_UNKNOWN_COMMAND] = N_("unknown command"),
	[LEDGER__ERROR_CODE__ERR_TOO_LARGE] = N_("too large"),
	[LEDGER__ERROR_CODE__ERR_MISSING_FIELD] = N_("missing field"),
	[LEDGER__ERROR_CODE__ERR_INVALID_VALUE] = N_("invalid value"),
	[LEDGER__ERROR_CODE__ERR_UNKNOWN_ENUM] = N_("unknown enum value"),
	[LEDGER__ERROR_CODE__ERR_NOT_FOUND] = N_("not found"),
	[LEDGER__ERROR_CODE__ERR_VERSION_CONFLICT] = N_("version conflict"),
	[LEDGER__ERROR_CODE__ERR_IDEMPOTENCY_MISMATCH] = N_("event id reused with a different body"),
	[LEDGER__ERROR_CODE__ERR_ALREADY_MEMBER] = N_("already an active member"),
	[LEDGER__ERROR_CODE__ERR_NOT_ACTIVE] = N_("membership not active"),
	[LEDGER__ERROR_CODE__ERR_ORG_DISSOLVED] = N_("organisation dissolved"),
	[LEDGER__ERROR_CODE__ERR_ORG_CLOSED] = N_("organisation does not admit members"),
	[LEDGER__ERROR_CODE__ERR_HIERARCHY] = N_("organisation hierarchy violated"),
	[LEDGER__ERROR_CODE__ERR_FUTURE_TIME] = N_("occurred_at in the future"),
	[LEDGER__ERROR_CODE__ERR_ALREADY_EXISTS] = N_("already exists"),
	[LEDGER__ERROR_CODE__ERR_INVALID_STATE] = N_("invalid state"),
	[LEDGER__ERROR_CODE__ERR_ABORTED] = N_("aborted with its atomic batch"),
	[LEDGER__ERROR_CODE__ERR_SERVER_FIELD] = N_("server-set field sent by client"),
	[LEDGER__ERROR_CODE__ERR_UNKNOWN_FIELD] = N_("unknown field"),
	[LEDGER__ERROR_CODE__ERR_DISK_FULL] = N_("no space left on device"),
	[LEDGER__ERROR_CODE__ERR_STORAGE] = N_("storage failure"),
	[LEDGER__ERROR_CODE__ERR_SHUTTING_DOWN] = N_("server shutting down"),
	[LEDGER__ERROR_CODE__ERR_BUSY] = N_("server busy"),
	[LEDGER__ERROR_CODE__ERR_PERMISSION_DENIED] = N_("permission denied"),
	[LEDGER__ERROR_CODE__ERR_INTERNAL] = N_("internal error"),
	[LEDGER__ERROR_CODE__ERR_UNAVAILABLE] = N_("server unavailable"),
	[LEDGER__ERROR_CODE__ERR_NOT_CAUGHT_UP] = N_("projection not caught up in time"),
	[LEDGER__ERROR_CODE__ERR_PROJECTION_STOPPED] = N_("projection stopped"),
	[LEDGER__ERROR_CODE__ERR_PLAN_INVALID] = N_("plan file invalid"),
	[LEDGER__ERROR_CODE__ERR_ALREADY_PAID] = N_("months already paid"),
	[LEDGER__ERROR_CODE__ERR_SEQ_BEYOND_HEAD] = N_("seq beyond the tree head"),
	[LEDGER__ERROR_CODE__ERR_SIZE_BEYOND_HEAD] = N_("tree size beyond the tree head"),
	[LEDGER__ERROR_CODE__ERR_BAD_SIGNATURE] = N_("tree head signature does not verify"),
	[LEDGER__ERROR_CODE__ERR_PROOF_MISMATCH] = N_("proof does not verify"),
	[LEDGER__ERROR_CODE__ERR_CHAIN_BROKEN] = N_("hash chain broken"),
	[LEDGER__ERROR_CODE__ERR_NOT_LEADER] = N_("this node is not the leader"),
	[LEDGER__ERROR_CODE__ERR_OUTCOME_UNKNOWN] =
		N_("outcome unknown: leadership was lost; retry with the same event ids"),
	[LEDGER__ERROR_CODE__ERR_HALTED] = N_("this node halted: it takes no writes until repaired"),
	[LEDGER__ERROR_CODE__ERR_ALREADY_FORGOTTEN] = N_("personal data already forgotten"),
	[LEDGER__ERROR_CODE__ERR_KEYSTORE] = N_("keystore missing, damaged or replaced"),
	[LEDGER__ERROR_CODE__ERR_AFTER_HEAD] = N_("subscription starts beyond the log head"),
};

#define NCODES (sizeof(descriptions) / sizeof(descriptions[0]))

const char *ld_errname(int code)
{
	if (code == 0)
		return "OK";
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		&ledger__error_code__descriptor, code < 0 ? -code : code);
	return v ? v->name : "ERR_UNKNOWN";
}

const char *ld_strerror(int code)
{
	unsigned c = (unsigned)(code < 0 ? -code : code);
	if (code == 0)
		return "success";
	if (c < NCODES && descriptions[c])
		return descriptions[c];
	return "unknown error";
}
