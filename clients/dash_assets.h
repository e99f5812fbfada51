/*
 * dash_assets.h — the files of the browser dashboard (clients/web/),
 * compiled into ledger-dashboard by scripts/embed-assets.sh, so that the
 * program serves the same page wherever it is installed.
 */
#ifndef LD_DASH_ASSETS_H
#define LD_DASH_ASSETS_H

#include <stddef.h>

struct dash_asset {
	const char *path; /* "/app.js": the file's name under clients/web/ */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct dash_asset dash_assets[];
extern const size_t dash_n_assets;

#endif
