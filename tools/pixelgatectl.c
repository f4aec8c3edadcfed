/* pixelgatectl: talks to a relay's admin listener ([admin] listen) over HTTP with
 * libcurl. See docs/operations.md and --help. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* curl's type-checking macros use _Pragma forms that GCC refuses in strict C11. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <jansson.h>

#define DEFAULT_URL "http://127.0.0.1:9180"
#define MAX_BODY    (64u << 20)
#define MAX_TOKEN   255

enum {
	EXIT_OK = 0,
	EXIT_ANSWER = 1,   /* the relay answered with an error (unknown session, ...) */
	EXIT_USAGE = 2,	   /* bad command line or token file */
	EXIT_CONNECT = 3,  /* the relay could not be reached */
	EXIT_AUTH = 4,	   /* wrong or missing token (401) */
	EXIT_DRAINING = 5, /* health: the relay is draining (503) */
};

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: pixelgatectl [--url URL] [--token-file FILE] [--timeout SECONDS] COMMAND\n"
	       "commands:\n"
	       "  health        GET /healthz: 'ok' or 'draining' (needs no token)\n"
	       "  status        health, and how many sessions and viewers there are\n"
	       "  sessions      the sessions, their browser hosts, users and viewers\n"
	       "  end ID        end session ID (its viewers are disconnected)\n"
	       "  metrics       the Prometheus metrics, as the relay sends them\n"
	       "options:\n"
	       "  --url URL          the admin listener (default " DEFAULT_URL ")\n"
	       "  --token-file FILE  the file [admin] token_file names (or $PIXELGATE_TOKEN_FILE)\n"
	       "  --timeout SECONDS  for the whole request (default 10)\n"
	       "exit status:\n"
	       "  0 done; 1 the relay answered with an error (such as no such session);\n"
	       "  2 bad usage or token file; 3 the relay could not be reached;\n"
	       "  4 wrong or missing token; 5 the relay is draining (health, status)\n");
}

struct body {
	char *data;
	size_t len;
	bool over;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct body *b = ud;
	size_t len = size * n;
	if (b->len + len > MAX_BODY) {
		b->over = true;
		return 0;
	}
	char *d = realloc(b->data, b->len + len + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, p, len);
	b->data = d;
	b->len += len;
	d[b->len] = '\0';
	return len;
}

struct ctl {
	const char *url;
	char token[MAX_TOKEN + 1];
	long timeout;
};

/* One request: *status gets the HTTP status. EXIT_OK, or EXIT_CONNECT with a
 * message printed. */
static int request(const struct ctl *c, const char *method, const char *path, bool auth,
		   long *status, struct body *out)
{
	char url[2048], hdr[MAX_TOKEN + 32], err[CURL_ERROR_SIZE] = "";
	size_t ul = strlen(c->url);
	while (ul && c->url[ul - 1] == '/')
		ul--;
	snprintf(url, sizeof(url), "%.*s%s", (int)ul, c->url, path);
	CURL *h = curl_easy_init();
	if (!h) {
		fprintf(stderr, "pixelgatectl: cannot start libcurl\n");
		return EXIT_CONNECT;
	}
	struct curl_slist *headers = NULL;
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", c->token);
		headers = curl_slist_append(headers, hdr);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (!strcmp(method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	explicit_bzero(hdr, sizeof(hdr));
	if (rc == CURLE_OK)
		return EXIT_OK;
	if (out->over)
		fprintf(stderr, "pixelgatectl: %s: answer over %u MiB\n", url, MAX_BODY >> 20);
	else if (rc == CURLE_COULDNT_CONNECT)
		fprintf(stderr,
			"pixelgatectl: %s: connection refused (is the relay running, with "
			"[admin] listen at this address?)\n",
			url);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		fprintf(stderr, "pixelgatectl: %s: no answer within %ld s\n", url, c->timeout);
	else
		fprintf(stderr, "pixelgatectl: %s: %s\n", url, *err ? err : curl_easy_strerror(rc));
	return EXIT_CONNECT;
}

/* Map an answer's status to an exit code, saying why on stderr. */
static int check(long status, const struct body *b, const char *what)
{
	if (status >= 200 && status < 300)
		return EXIT_OK;
	if (status == 401) {
		fprintf(stderr,
			"pixelgatectl: %s: wrong or missing token (see --token-file and "
			"[admin] token_file)\n",
			what);
		return EXIT_AUTH;
	}
	fprintf(stderr, "pixelgatectl: %s: HTTP %ld: %s", what, status,
		b->data && b->len ? b->data : "(no text)\n");
	return EXIT_ANSWER;
}

static int read_token(const char *path, char *out)
{
	FILE *f = fopen(path, "r");
	char line[MAX_TOKEN + 3];
	if (!f || !fgets(line, sizeof(line), f)) {
		fprintf(stderr, "pixelgatectl: --token-file %s: cannot read a token\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (strlen(line) > MAX_TOKEN || !*line) {
		fprintf(stderr, "pixelgatectl: --token-file %s: no token on its first line\n",
			path);
		return -1;
	}
	strcpy(out, line);
	explicit_bzero(line, sizeof(line));
	return 0;
}

static void print_time(int64_t t)
{
	char s[32];
	time_t tt = (time_t)t;
	struct tm tm;
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
	fputs(s, stdout);
}

static int print_sessions(const struct body *b, bool summary)
{
	json_error_t je;
	json_t *root = json_loadb(b->data ? b->data : "", b->len, 0, &je);
	json_t *list = json_object_get(root, "sessions");
	if (!json_is_array(list)) {
		fprintf(stderr, "pixelgatectl: /sessions: not the JSON expected: %s\n", je.text);
		json_decref(root);
		return EXIT_ANSWER;
	}
	size_t nviewers = 0, i;
	json_t *s;
	json_array_foreach(list, i, s) nviewers += json_array_size(json_object_get(s, "viewers"));
	if (summary) {
		printf("sessions: %zu\nviewers: %zu\n", json_array_size(list), nviewers);
		json_decref(root);
		return EXIT_OK;
	}
	if (!json_array_size(list))
		printf("no sessions\n");
	json_array_foreach(list, i, s)
	{
		printf("session %s  browser host %s  frames %lld  started ",
		       json_string_value(json_object_get(s, "id")),
		       json_string_value(json_object_get(s, "browser_host")),
		       (long long)json_integer_value(json_object_get(s, "frames")));
		print_time(json_integer_value(json_object_get(s, "started")));
		printf("\n");
		size_t k;
		json_t *v;
		json_array_foreach(json_object_get(s, "viewers"), k, v)
		{
			const char *user = json_string_value(json_object_get(v, "user"));
			printf("  viewer %lld  %s  user %s  since ",
			       (long long)json_integer_value(json_object_get(v, "id")),
			       json_string_value(json_object_get(v, "source")),
			       user && *user ? user : "-");
			print_time(json_integer_value(json_object_get(v, "connected_since")));
			printf("  sent %lld bytes  received %lld bytes  frames %lld\n",
			       (long long)json_integer_value(json_object_get(v, "bytes_sent")),
			       (long long)json_integer_value(json_object_get(v, "bytes_received")),
			       (long long)json_integer_value(json_object_get(v, "frames")));
		}
	}
	json_decref(root);
	return EXIT_OK;
}

static int run(struct ctl *c, const char *cmd, const char *arg)
{
	struct body b = {0};
	long status = 0;
	int rc;
	bool health = !strcmp(cmd, "health") || !strcmp(cmd, "status");
	if (health) {
		rc = request(c, "GET", "/healthz", false, &status, &b);
		if (rc)
			goto out;
		if (status == 503) {
			printf("draining\n");
			rc = EXIT_DRAINING;
		} else if ((rc = check(status, &b, "/healthz")) == EXIT_OK) {
			printf("%s", !strcmp(cmd, "status") ? "relay: ok\n"
				     : b.data		    ? b.data
							    : "ok\n");
		}
		if (!strcmp(cmd, "health") || (rc && rc != EXIT_DRAINING))
			goto out;
		free(b.data);
		b = (struct body){0};
		int hrc = rc;
		if (!(rc = request(c, "GET", "/sessions", true, &status, &b)) &&
		    !(rc = check(status, &b, "/sessions")))
			rc = print_sessions(&b, true);
		if (!rc)
			rc = hrc;
	} else if (!strcmp(cmd, "sessions")) {
		if (!(rc = request(c, "GET", "/sessions", true, &status, &b)) &&
		    !(rc = check(status, &b, "/sessions")))
			rc = print_sessions(&b, false);
	} else if (!strcmp(cmd, "metrics")) {
		if (!(rc = request(c, "GET", "/metrics", true, &status, &b)) &&
		    !(rc = check(status, &b, "/metrics")))
			fwrite(b.data ? b.data : "", 1, b.len, stdout);
	} else {
		char path[128];
		snprintf(path, sizeof(path), "/sessions/%s/end", arg);
		if (!(rc = request(c, "POST", path, true, &status, &b))) {
			if (status == 404) {
				fprintf(stderr,
					"pixelgatectl: no session %s (see pixelgatectl "
					"sessions)\n",
					arg);
				rc = EXIT_ANSWER;
			} else if (!(rc = check(status, &b, path))) {
				fwrite(b.data ? b.data : "", 1, b.len, stdout);
			}
		}
	}
out:
	free(b.data);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"token-file", required_argument, NULL, 't'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ctl c = {.url = DEFAULT_URL, .timeout = 10};
	const char *token_file = getenv("PIXELGATE_TOKEN_FILE");
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'u':
			c.url = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'T': {
			char *end;
			c.timeout = strtol(optarg, &end, 10);
			if (*end || c.timeout < 1 || c.timeout > 3600) {
				fprintf(stderr,
					"pixelgatectl: --timeout: expected 1..3600 seconds\n");
				return EXIT_USAGE;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "pixelgatectl: no command\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind], *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
	static const char *const cmds[] = {"health", "status", "sessions", "end", "metrics"};
	bool known = false;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		known |= !strcmp(cmd, cmds[i]);
	int want_args = !strcmp(cmd, "end") ? 2 : 1;
	if (!known || argc - optind != want_args) {
		fprintf(stderr,
			known ? "pixelgatectl: %s: wrong number of arguments\n"
			      : "pixelgatectl: unknown command '%s'\n",
			cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (arg && (strlen(arg) > 64 || strspn(arg, "0123456789abcdefABCDEF") != strlen(arg))) {
		fprintf(stderr,
			"pixelgatectl: end: '%s' is not a session id (16 hex digits, see "
			"pixelgatectl sessions)\n",
			arg);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "health")) {
		if (!token_file) {
			fprintf(stderr,
				"pixelgatectl: %s needs the admin token: give --token-file "
				"FILE (the relay's [admin] token_file)\n",
				cmd);
			return EXIT_USAGE;
		}
		if (read_token(token_file, c.token) < 0)
			return EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "pixelgatectl: cannot start libcurl\n");
		return EXIT_CONNECT;
	}
	int rc = run(&c, cmd, arg);
	explicit_bzero(c.token, sizeof(c.token));
	curl_global_cleanup();
	return rc;
}
