/* orgtree.c — the walk up the organisation tree. See orgtree.h. */
#include "orgtree.h"

#include <stdio.h>
#include <string.h>

int ld_org_chain(const char *org, ld_parent_fn parent, void *arg, ld_org_id ids[], int max,
		 int *n)
{
	*n = 0;
	if (max <= 0)
		return 0;
	size_t len = strnlen(org, LD_ID_MAX);
	memcpy(ids[0], org, len); /* a longer id is cut, as it always was */
	ids[0][len] = 0;
	for (*n = 1;; (*n)++) {
		ld_org_id up;
		int rc = parent(arg, ids[*n - 1], up);
		if (rc)
			return rc;
		if (!up[0] || *n == max)
			return 0;
		memcpy(ids[*n], up, sizeof(up));
	}
}

int ld_org_chain_has(const ld_org_id ids[], int n, const char *org)
{
	for (int i = 0; i < n; i++)
		if (strcmp(ids[i], org) == 0)
			return 1;
	return 0;
}
