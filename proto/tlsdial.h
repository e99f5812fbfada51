/*
 * tlsdial.h — the TLS configuration of a dialer: a client's to the ledger,
 * a node's to its peers (catch-up).
 *
 * The server's certificate must chain to the CA given, and name the host of
 * the URL dialled: its CN or a DNS name of its subjectAltName, an IP address
 * as the URL writes it (mbed TLS, under NNG 1.5.2, compares the name as
 * text). NNG sets that name on a dialer's own configuration, not on one the
 * caller sets in its place (NNG_OPT_TLS_CONFIG); without it any certificate
 * the CA signed would pass, one made for a client or for another server
 * too.
 */
#ifndef LD_TLSDIAL_H
#define LD_TLSDIAL_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/* A client configuration for dialling url: this side's certificate and key
 * (PEM files, read here), the server checked against ca_file (required) and
 * named as url's host. 0 with *out (nng_tls_config_free it once the dialer
 * holds it), or NNG's error: NNG_ENOENT with *unreadable the path of the
 * certificate or key file that cannot be read (NULL otherwise),
 * NNG_EADDRINVAL when url has no host. */
int tls_dial_config(const char *url, const char *cert_file, const char *key_file,
                    const char *ca_file, nng_tls_config **out, const char **unreadable);

#endif
