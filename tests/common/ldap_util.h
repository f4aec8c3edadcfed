/* A real slapd on 127.0.0.1 for the LDAP tests (unit and integration): a test CA and
 * server certificate, an mdb database with the memberof overlay, users and groups (see
 * ldap_util.c for the directory's content). */
#ifndef PG_TEST_LDAP_UTIL_H
#define PG_TEST_LDAP_UTIL_H

#include <stdbool.h>
#include <sys/types.h>

#define LU_BASE	    "dc=example,dc=org"
#define LU_PEOPLE   "ou=people," LU_BASE
#define LU_GROUPS   "ou=groups," LU_BASE
#define LU_SVC_DN   "cn=pixelgate,ou=services," LU_BASE
#define LU_SVC_PW   "svc-secret"
#define LU_ALICE_PW "alice-pw" /* alice: groupOfNames staff and it (memberOf) */
/* bob: groupOfUniqueNames visitors (found by the group search only) and
 * groupOfNames sales (memberOf) */
#define LU_BOB_PW   "bob-pw"
#define LU_CAROL_PW "carol-pw" /* carol: no group */

struct lu_slapd {
	char dir[64];
	char ca[128], wrong_ca[128], cert[160], key[160];
	int port, tls_port;
	pid_t pid;
	char ldap_uri[64], ldaps_uri[64];
};

/* Creates the folder, PKI, config and data, starts slapd and waits (5 s at most)
 * until it answers, then adds the groups over LDAP so memberof sees them. */
void lu_slapd_start(struct lu_slapd *s);
/* Only the folder and the PKI (ca, wrong_ca, cert, key), no slapd. */
void lu_pki(struct lu_slapd *s);
/* Stops slapd (if started) and removes the folder. */
void lu_slapd_stop(struct lu_slapd *s);

/* A free TCP port on 127.0.0.1 (bound then released). */
int lu_free_port(void);
/* A socket listening on 127.0.0.1 that never accepts and never answers; *port set. */
int lu_silent_listener(int *port);
/* Monotonic milliseconds. */
long lu_now_ms(void);

#endif
