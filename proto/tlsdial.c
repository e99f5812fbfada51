/* tlsdial.c — a dialer's TLS configuration. See tlsdial.h. */
#include "tlsdial.h"

int tls_dial_config(const char *url, const char *cert_pem, const char *key_pem, const char *ca_file,
                    nng_tls_config **out)
{
	nng_url *u = NULL;
	nng_tls_config *cfg = NULL;
	*out = NULL;
	int rv = nng_url_parse(&u, url);
	if (rv == 0 && (!u->u_hostname || !u->u_hostname[0]))
		rv = NNG_EADDRINVAL;
	if (rv == 0 && (rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) == 0 &&
	    (rv = nng_tls_config_own_cert(cfg, cert_pem, key_pem, NULL)) == 0 &&
	    (rv = nng_tls_config_ca_file(cfg, ca_file)) == 0 &&
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) == 0)
		rv = nng_tls_config_server_name(cfg, u->u_hostname);
	if (u)
		nng_url_free(u);
	if (rv && cfg)
		nng_tls_config_free(cfg);
	else
		*out = cfg;
	return rv;
}
