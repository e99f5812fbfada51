/* error.c — names and descriptions of the project's error codes. */
#include "error.h"

#include <stddef.h>

static const char *const descriptions[] = {
	[LEDGER__ERROR_CODE__ERR_MALFORMED] = "malformed message",
	[LEDGER__ERROR_CODE__ERR_UNKNOWN_COMMAND] = "unknown command",
	[LEDGER__ERROR_CODE__ERR_TOO_LARGE] = "too large",
	[LEDGER__ERROR_CODE__ERR_MISSING_FIELD] = "missing field",
	[LEDGER__ERROR_CODE__ERR_INVALID_VALUE] = "invalid value",
	[LEDGER__ERROR_CODE__ERR_UNKNOWN_ENUM] = "unknown enum value",
	[LEDGER__ERROR_CODE__ERR_NOT_FOUND] = "not found",
	[LEDGER__ERROR_CODE__ERR_VERSION_CONFLICT] = "version conflict",
	[LEDGER__ERROR_CODE__ERR_IDEMPOTENCY_MISMATCH] = "event id reused with a different body",
	[LEDGER__ERROR_CODE__ERR_ALREADY_MEMBER] = "already an active member",
	[LEDGER__ERROR_CODE__ERR_NOT_ACTIVE] = "membership not active",
	[LEDGER__ERROR_CODE__ERR_ORG_DISSOLVED] = "organisation dissolved",
	[LEDGER__ERROR_CODE__ERR_ORG_CLOSED] = "organisation does not admit members",
	[LEDGER__ERROR_CODE__ERR_HIERARCHY] = "organisation hierarchy violated",
	[LEDGER__ERROR_CODE__ERR_FUTURE_TIME] = "occurred_at in the future",
	[LEDGER__ERROR_CODE__ERR_ALREADY_EXISTS] = "already exists",
	[LEDGER__ERROR_CODE__ERR_INVALID_STATE] = "invalid state",
	[LEDGER__ERROR_CODE__ERR_ABORTED] = "aborted with its atomic batch",
	[LEDGER__ERROR_CODE__ERR_SERVER_FIELD] = "server-set field sent by client",
	[LEDGER__ERROR_CODE__ERR_UNKNOWN_FIELD] = "unknown field",
	[LEDGER__ERROR_CODE__ERR_DISK_FULL] = "no space left on device",
	[LEDGER__ERROR_CODE__ERR_STORAGE] = "storage failure",
	[LEDGER__ERROR_CODE__ERR_SHUTTING_DOWN] = "server shutting down",
	[LEDGER__ERROR_CODE__ERR_BUSY] = "server busy",
	[LEDGER__ERROR_CODE__ERR_PERMISSION_DENIED] = "permission denied",
	[LEDGER__ERROR_CODE__ERR_INTERNAL] = "internal error",
	[LEDGER__ERROR_CODE__ERR_UNAVAILABLE] = "server unavailable",
	[LEDGER__ERROR_CODE__ERR_NOT_CAUGHT_UP] = "projection not caught up in time",
	[LEDGER__ERROR_CODE__ERR_PROJECTION_STOPPED] = "projection stopped",
	[LEDGER__ERROR_CODE__ERR_PLAN_INVALID] = "plan file invalid",
	[LEDGER__ERROR_CODE__ERR_ALREADY_PAID] = "months already paid",
	[LEDGER__ERROR_CODE__ERR_SEQ_BEYOND_HEAD] = "seq beyond the tree head",
	[LEDGER__ERROR_CODE__ERR_SIZE_BEYOND_HEAD] = "tree size beyond the tree head",
	[LEDGER__ERROR_CODE__ERR_BAD_SIGNATURE] = "tree head signature does not verify",
	[LEDGER__ERROR_CODE__ERR_PROOF_MISMATCH] = "proof does not verify",
	[LEDGER__ERROR_CODE__ERR_CHAIN_BROKEN] = "hash chain broken",
	[LEDGER__ERROR_CODE__ERR_ALREADY_FORGOTTEN] = "personal data already forgotten",
	[LEDGER__ERROR_CODE__ERR_KEYSTORE] = "keystore missing, damaged or replaced",
	[LEDGER__ERROR_CODE__ERR_AFTER_HEAD] = "subscription starts beyond the log head",
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
