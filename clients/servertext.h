/*
 * servertext.h — the ledger's own messages in the user's language.
 *
 * The ledger answers a refusal with an English sentence (it goes on the
 * wire, proto/error.h). The ones a clerk meets most often are known here
 * as patterns ("organisation '%s' not found", each %s one or more
 * characters of the message); a message that matches one whole is rendered
 * with the pattern's translation and the same values, in their order (a
 * value that is itself such a sentence translated too). Times the ledger
 * names in UTC ("2024-03-01T16:00:00Z") are shown in the ledger's time
 * zone (clients/when.h), "2024-03-02 00:00:00", in any language.
 */
#ifndef LDC_SERVERTEXT_H
#define LDC_SERVERTEXT_H

#include <stddef.h>

/* message in the user's language, in out (size n), when it matches a known
 * pattern that has a translation in effect, or with its UTC times in the
 * ledger's zone when it names any; else NULL (print message as it is). */
const char *ldc_server_text(const char *message, char *out, size_t n);

#endif
