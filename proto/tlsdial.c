/* tlsdial.c — a dialer's TLS configuration. See tlsdial.h. */
#include "tlsdial.h"

#include <stdio.h>
#include <stdlib.h>

/* A PEM file's text (NUL-terminated, at most 1 MiB; free it), or NULL. */
static char *pem_of(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(1 << 20);
	size_t len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (!len) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

int tls_dial_config(const char *url, const char *cert_file, const char *key_file,
                    const char *ca_file, nng_tls_config **out, const char **unreadable)
{
	nng_url *u = NULL;
	nng_tls_config *cfg = NULL;
	char *cert = pem_of(cert_file), *key = cert ? pem_of(key_file) : NULL;
	*out = NULL;
	*unreadable = !cert ? cert_file : !key ? key_file : NULL;
	int rv = *unreadable ? NNG_ENOENT : nng_url_parse(&u, url);
	if (rv == 0 && (!u->u_hostname || !u->u_hostname[0]))
		rv = NNG_EADDRINVAL;
	if (rv == 0 && (rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) == 0 &&
	    (rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) == 0 &&
	    (rv = nng_tls_config_ca_file(cfg, ca_file)) == 0 &&
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) == 0)
		rv = nng_tls_config_server_name(cfg, u->u_hostname);
	free(cert);
	free(key);
	if (u)
		nng_url_free(u);
	if (rv && cfg)
		nng_tls_config_free(cfg);
	else
		*out = cfg;
	return rv;
}
