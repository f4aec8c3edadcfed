/* Shared between auth/ldap.c and auth/ldap_config.c; not for other modules. */
#ifndef PG_AUTH_LDAP_INT_H
#define PG_AUTH_LDAP_INT_H

#include <stddef.h>

/* Copies template t to out with every %s replaced by value and %% by %. Returns the
 * length (NUL-terminated) or -E2BIG. t must have passed pg_ldap_check_config. */
int pg_ldap_expand(const char *t, const char *value, char *out, size_t size);

#endif
