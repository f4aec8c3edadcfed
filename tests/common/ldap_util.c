#include "ldap_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

long lu_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int lu_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

int lu_silent_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	/* The kernel completes the TCP handshake from the backlog: the client connects,
	 * then hears nothing. */
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* ---- PKI ---- */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	cr_assert(e, "extension %d=%s", nid, value);
	cr_assert_eq(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *x = X509_new();
	cr_assert(x);
	X509_set_version(x, 2);
	unsigned char serial[8];
	cr_assert_eq(RAND_bytes(serial, sizeof(serial)), 1);
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400);
	X509_set_pubkey(x, key);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509 *signer = issuer ? issuer : x;
	add_ext(x, signer, NID_subject_key_identifier, "hash");
	if (!issuer) {
		add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, signer, NID_authority_key_identifier, "keyid");
		add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, signer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, signer, NID_ext_key_usage, "serverAuth");
		add_ext(x, signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	}
	cr_assert(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static void write_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	cr_assert(f, "%s", path);
	cr_assert_eq(PEM_write_X509(f, x), 1);
	fclose(f);
}

static void make_pki(struct lu_slapd *s)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *wrong_key = EVP_EC_gen("P-256");
	EVP_PKEY *key = EVP_EC_gen("P-256");
	cr_assert(ca_key && wrong_key && key);
	/* Same subject for both CAs: only the key tells them apart. */
	X509 *ca = make_cert(ca_key, "pixelgate LDAP test CA", NULL, NULL);
	X509 *wrong = make_cert(wrong_key, "pixelgate LDAP test CA", NULL, NULL);
	X509 *cert = make_cert(key, "localhost", ca, ca_key);
	write_cert(s->ca, ca);
	write_cert(s->wrong_ca, wrong);
	write_cert(s->cert, cert);
	FILE *f = fopen(s->key, "w");
	cr_assert(f);
	cr_assert_eq(fchmod(fileno(f), 0600), 0);
	cr_assert_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	X509_free(ca);
	X509_free(wrong);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(wrong_key);
	EVP_PKEY_free(key);
}

/* {SSHA}: base64(SHA-1(password salt) salt), as slappasswd writes it. */
static void ssha(const char *pw, char *out, size_t size)
{
	unsigned char buf[20 + 8], salt[8];
	cr_assert_eq(RAND_bytes(salt, sizeof(salt)), 1);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	cr_assert(md);
	cr_assert_eq(EVP_DigestInit_ex(md, EVP_sha1(), NULL), 1);
	EVP_DigestUpdate(md, pw, strlen(pw));
	EVP_DigestUpdate(md, salt, sizeof(salt));
	unsigned int len = 0;
	cr_assert_eq(EVP_DigestFinal_ex(md, buf, &len), 1);
	EVP_MD_CTX_free(md);
	memcpy(buf + 20, salt, sizeof(salt));
	char b64[64];
	EVP_EncodeBlock((unsigned char *)b64, buf, sizeof(buf));
	snprintf(out, size, "{SSHA}%s", b64);
}

/* ---- slapd ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert(f, "%s", path);
	cr_assert_eq(fputs(text, f) >= 0, true);
	fclose(f);
}

static void write_config(const struct lu_slapd *s)
{
	char path[128], text[4096];
	snprintf(path, sizeof(path), "%s/slapd.conf", s->dir);
	/* The ACL: passwords only for binding, everything else only for bound users,
	 * so an anonymous search finds nothing and the service account is needed. */
	snprintf(text, sizeof(text),
		 "include /etc/ldap/schema/core.schema\n"
		 "include /etc/ldap/schema/cosine.schema\n"
		 "include /etc/ldap/schema/inetorgperson.schema\n"
		 "modulepath /usr/lib/ldap\n"
		 "moduleload back_mdb\n"
		 "moduleload memberof\n"
		 "pidfile %s/slapd.pid\n"
		 "TLSCACertificateFile %s\n"
		 "TLSCertificateFile %s\n"
		 "TLSCertificateKeyFile %s\n"
		 "database mdb\n"
		 "maxsize 16777216\n"
		 "suffix \"" LU_BASE "\"\n"
		 "rootdn \"cn=admin," LU_BASE "\"\n"
		 "rootpw admin-secret\n"
		 "directory %s/db\n"
		 "overlay memberof\n"
		 "access to attrs=userPassword by anonymous auth by * none\n"
		 "access to * by users read by * none\n",
		 s->dir, s->ca, s->cert, s->key, s->dir);
	write_file(path, text);
}

static void add_person(char *text, size_t size, const char *uid, const char *pw)
{
	char hash[80], entry[512];
	ssha(pw, hash, sizeof(hash));
	snprintf(entry, sizeof(entry),
		 "dn: uid=%s," LU_PEOPLE "\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\n"
		 "sn: %s\nuserPassword: %s\n\n",
		 uid, uid, uid, uid, hash);
	strncat(text, entry, size - strlen(text) - 1);
}

static void write_data(const struct lu_slapd *s)
{
	char path[128], text[4096], hash[80], entry[512];
	snprintf(path, sizeof(path), "%s/data.ldif", s->dir);
	snprintf(text, sizeof(text),
		 "dn: " LU_BASE "\nobjectClass: dcObject\nobjectClass: organization\n"
		 "dc: example\no: Example\n\n"
		 "dn: " LU_PEOPLE "\nobjectClass: organizationalUnit\nou: people\n\n"
		 "dn: ou=services," LU_BASE "\nobjectClass: organizationalUnit\nou: services\n\n");
	ssha(LU_SVC_PW, hash, sizeof(hash));
	snprintf(entry, sizeof(entry),
		 "dn: " LU_SVC_DN "\nobjectClass: person\ncn: pixelgate\nsn: service\n"
		 "userPassword: %s\n\n",
		 hash);
	strncat(text, entry, sizeof(text) - strlen(text) - 1);
	add_person(text, sizeof(text), "alice", LU_ALICE_PW);
	add_person(text, sizeof(text), "bob", LU_BOB_PW);
	add_person(text, sizeof(text), "carol", LU_CAROL_PW);
	write_file(path, text);
}

static int run(char *const argv[])
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool answers(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void add_entry(LDAP *ld, const char *dn, LDAPMod **mods)
{
	int rc = ldap_add_ext_s(ld, dn, mods, NULL, NULL);
	cr_assert_eq(rc, LDAP_SUCCESS, "add %s: %s", dn, ldap_err2string(rc));
}

/* Groups go in over LDAP, not slapadd: the memberof overlay sees only operations. */
static void add_groups(const struct lu_slapd *s)
{
	LDAP *ld = NULL;
	cr_assert_eq(ldap_initialize(&ld, s->ldap_uri), LDAP_SUCCESS);
	int v3 = LDAP_VERSION3;
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	struct berval pw = {.bv_len = 12, .bv_val = "admin-secret"};
	int rc = ldap_sasl_bind_s(ld, "cn=admin," LU_BASE, LDAP_SASL_SIMPLE, &pw, NULL, NULL, NULL);
	cr_assert_eq(rc, LDAP_SUCCESS, "admin bind: %s", ldap_err2string(rc));

	char *ou_oc[] = {"organizationalUnit", NULL}, *ou_v[] = {"groups", NULL};
	LDAPMod m1 = {LDAP_MOD_ADD, "objectClass", {ou_oc}}, m2 = {LDAP_MOD_ADD, "ou", {ou_v}};
	LDAPMod *ou[] = {&m1, &m2, NULL};
	add_entry(ld, LU_GROUPS, ou);

	char *gon[] = {"groupOfNames", NULL}, *gun[] = {"groupOfUniqueNames", NULL};
	char *staff[] = {"staff", NULL}, *it[] = {"it", NULL}, *vis[] = {"visitors", NULL};
	char *alice[] = {"uid=alice," LU_PEOPLE, NULL}, *bob[] = {"uid=bob," LU_PEOPLE, NULL};
	LDAPMod oc1 = {LDAP_MOD_ADD, "objectClass", {gon}}, cn1 = {LDAP_MOD_ADD, "cn", {staff}};
	LDAPMod mem1 = {LDAP_MOD_ADD, "member", {alice}};
	LDAPMod *g1[] = {&oc1, &cn1, &mem1, NULL};
	add_entry(ld, "cn=staff," LU_GROUPS, g1);
	LDAPMod cn2 = {LDAP_MOD_ADD, "cn", {it}};
	LDAPMod *g2[] = {&oc1, &cn2, &mem1, NULL};
	add_entry(ld, "cn=it," LU_GROUPS, g2);
	LDAPMod oc3 = {LDAP_MOD_ADD, "objectClass", {gun}}, cn3 = {LDAP_MOD_ADD, "cn", {vis}};
	LDAPMod mem3 = {LDAP_MOD_ADD, "uniqueMember", {bob}};
	LDAPMod *g3[] = {&oc3, &cn3, &mem3, NULL};
	add_entry(ld, "cn=visitors," LU_GROUPS, g3);
	char *sales[] = {"sales", NULL};
	LDAPMod cn4 = {LDAP_MOD_ADD, "cn", {sales}}, mem4 = {LDAP_MOD_ADD, "member", {bob}};
	LDAPMod *g4[] = {&oc1, &cn4, &mem4, NULL};
	add_entry(ld, "cn=sales," LU_GROUPS, g4);
	ldap_unbind_ext_s(ld, NULL, NULL);
}

void lu_pki(struct lu_slapd *s)
{
	memset(s, 0, sizeof(*s));
	/* libldap writes to sockets a server may have closed. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(s->dir, sizeof(s->dir), "/tmp/pg-ldap-XXXXXX");
	cr_assert(mkdtemp(s->dir));
	snprintf(s->ca, sizeof(s->ca), "%s/ca.pem", s->dir);
	snprintf(s->wrong_ca, sizeof(s->wrong_ca), "%s/wrong-ca.pem", s->dir);
	snprintf(s->cert, sizeof(s->cert), "%s/server.pem", s->dir);
	snprintf(s->key, sizeof(s->key), "%s/server.key", s->dir);
	make_pki(s);
}

void lu_slapd_start(struct lu_slapd *s)
{
	lu_pki(s);
	char db[96], conf[96], data[96], urls[160];
	snprintf(db, sizeof(db), "%s/db", s->dir);
	snprintf(conf, sizeof(conf), "%s/slapd.conf", s->dir);
	snprintf(data, sizeof(data), "%s/data.ldif", s->dir);
	cr_assert_eq(mkdir(db, 0700), 0);
	write_config(s);
	write_data(s);
	char *slapadd[] = {"slapadd", "-q", "-f", conf, "-l", data, NULL};
	cr_assert_eq(run(slapadd), 0, "slapadd failed (is slapd installed?)");

	s->port = lu_free_port();
	s->tls_port = lu_free_port();
	snprintf(s->ldap_uri, sizeof(s->ldap_uri), "ldap://127.0.0.1:%d", s->port);
	snprintf(s->ldaps_uri, sizeof(s->ldaps_uri), "ldaps://127.0.0.1:%d", s->tls_port);
	snprintf(urls, sizeof(urls), "%s/ %s/", s->ldap_uri, s->ldaps_uri);
	s->pid = fork();
	cr_assert(s->pid >= 0);
	if (s->pid == 0) {
		/* A test killed by its timeout takes its slapd with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		char *argv[] = {"slapd", "-h", urls, "-f", conf, "-d", "0", NULL};
		execvp(argv[0], argv);
		_exit(127);
	}
	long end = lu_now_ms() + 5000;
	while (!(answers(s->port) && answers(s->tls_port))) {
		int st;
		cr_assert_eq(waitpid(s->pid, &st, WNOHANG), 0, "slapd exited");
		cr_assert(lu_now_ms() < end, "slapd did not answer within 5 s");
		usleep(20000);
	}
	add_groups(s);
}

static void rm_tree(const char *dir)
{
	char *argv[] = {"rm", "-rf", (char *)dir, NULL};
	run(argv);
}

void lu_slapd_stop(struct lu_slapd *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		long end = lu_now_ms() + 3000;
		int st;
		while (waitpid(s->pid, &st, WNOHANG) == 0) {
			if (lu_now_ms() > end) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &st, 0);
				break;
			}
			usleep(10000);
		}
		s->pid = 0;
	}
	if (s->dir[0])
		rm_tree(s->dir);
}
