/*
 * error.h — the one error convention of ledgerd, daemon and clients alike.
 *
 * Every function that can fail returns an int: 0 for success, or a negative
 * code. The codes are the negated values of ledger.ErrorCode (proto/ledger.proto),
 * so the number a function returns is the number the client sees on the wire:
 *
 *     return LD_E(NOT_FOUND);      // == -LEDGER__ERROR_CODE__ERR_NOT_FOUND
 *
 * Library errors (LMDB, NNG, errno) are translated where the library is
 * wrapped; nothing above the wrappers sees a library's own code.
 */
#ifndef LD_ERROR_H
#define LD_ERROR_H

#include "ledger.pb-c.h"

/* LD_E(NAME) is the negative project code for ledger.ErrorCode ERR_NAME. */
#define LD_E(name) (-(int)LEDGER__ERROR_CODE__ERR_##name)

/* The stable name of a code ("ERR_NOT_FOUND") for a negative code or a
 * positive wire code; "OK" for 0 and "ERR_UNKNOWN" for anything else. The
 * string is static. */
const char *ld_errname(int code);

/* A short lowercase description of a code ("not found"). Static string, in
 * English (it goes on the wire); _(ld_strerror(code)) in the user's language. */
const char *ld_strerror(int code);

/* The wire code (positive) for a project code (negative or zero). */
static inline Ledger__ErrorCode ld_wire_code(int code)
{
	return (Ledger__ErrorCode)(code < 0 ? -code : code);
}

#endif
