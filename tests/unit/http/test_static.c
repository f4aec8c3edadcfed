/* Static files: only regular, non-hidden files under the folder are loaded;
 * symlinks (to /etc/passwd, to a file inside, to a folder) are never followed;
 * lookups are exact; the caps hold; and a request is answered from memory. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/err.h"
#include "http/request.h"
#include "http/static.h"

static char root[64];

static void put(const char *rel, const char *content)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(content, f);
	fclose(f);
}

static void dir(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
}

static void link_to(const char *target, const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	cr_assert_eq(symlink(target, path), 0, "%s", path);
}

static void make_root(void)
{
	strcpy(root, "/tmp/pg-static-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
}

static void remove_root(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
}

static struct pg_static *load_ok(void)
{
	struct pg_static *st = NULL;
	char err[256] = "";
	cr_assert_eq(pg_static_load(root, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(st);
	return st;
}

static void load_fails(int rc, const char *what)
{
	struct pg_static *st = (struct pg_static *)1;
	char err[256] = "";
	cr_assert_eq(pg_static_load(root, &st, err, sizeof(err)), rc, "%s", err);
	cr_assert_null(st);
	cr_assert(strstr(err, what), "%s", err);
}

Test(static_files, only_regular_files_inside)
{
	make_root();
	put("index.html", "<!doctype html><title>pixelgate</title>");
	put("app.js", "export const x = 1;\n");
	put("style.CSS", "body{}");
	put("logo.svg", "<svg/>");
	put("data.bin", "\x01\x02");
	put(".hidden", "secret");
	dir(".git");
	put(".git/config", "[core]");
	dir("sub");
	put("sub/page.mjs", "export {};");
	put("sub/a..b.js", "unreachable");
	link_to("/etc/passwd", "passwd");
	link_to("index.html", "inside.html");
	link_to("/etc", "etc");
	link_to("sub", "sublink");
	char fifo[128];
	snprintf(fifo, sizeof(fifo), "%s/fifo", root);
	cr_assert_eq(mkfifo(fifo, 0644), 0);

	struct pg_static *st = load_ok();
	cr_assert_eq(pg_static_count(st), 6);
	const struct pg_static_file *f = pg_static_lookup(st, "/");
	cr_assert_not_null(f);
	cr_assert_str_eq(f->path, "/index.html");
	cr_assert_str_eq(f->type, "text/html; charset=utf-8");
	cr_assert_eq(f->len, strlen("<!doctype html><title>pixelgate</title>"));
	cr_assert_eq(f->etag[0], '"');
	cr_assert_eq(strlen(f->etag), 18);
	cr_assert_eq(pg_static_lookup(st, "/index.html"), f);
	cr_assert_str_eq(pg_static_lookup(st, "/app.js")->type, "text/javascript; charset=utf-8");
	cr_assert_str_eq(pg_static_lookup(st, "/style.CSS")->type, "text/css; charset=utf-8");
	cr_assert_str_eq(pg_static_lookup(st, "/logo.svg")->type, "image/svg+xml");
	cr_assert_str_eq(pg_static_lookup(st, "/data.bin")->type, "application/octet-stream");
	cr_assert_str_eq(pg_static_lookup(st, "/sub/page.mjs")->type,
			 "text/javascript; charset=utf-8");
	const char *misses[] = {"/.hidden",	"/.git/config",	  "/passwd",
				"/inside.html", "/etc/passwd",	  "/sublink/page.mjs",
				"/fifo",	"/../x",	  "/sub/../index.html",
				"/sub/",	"/sub",		  "/SUB/page.mjs",
				"/index.html/", "index.html",	  "//index.html",
				"/sub/a..b.js", "/./index.html",  "",
				"/index.htm",	"/index.html\x01"};
	for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++)
		cr_assert_null(pg_static_lookup(st, misses[i]), "%s", misses[i]);
	/* Nothing on disk matters after the load. */
	put("index.html", "changed");
	cr_assert_eq(pg_static_lookup(st, "/")->len,
		     strlen("<!doctype html><title>pixelgate</title>"));
	pg_static_free(st);
	remove_root();
}

Test(static_files, etag_is_content)
{
	make_root();
	put("a.txt", "same");
	put("b.txt", "same");
	put("c.txt", "other");
	struct pg_static *st = load_ok();
	cr_assert_str_eq(pg_static_lookup(st, "/a.txt")->etag,
			 pg_static_lookup(st, "/b.txt")->etag);
	cr_assert_str_neq(pg_static_lookup(st, "/a.txt")->etag,
			  pg_static_lookup(st, "/c.txt")->etag);
	/* SHA-256("same") starts 0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5
	 */
	cr_assert_str_eq(pg_static_lookup(st, "/a.txt")->etag, "\"0967115f2813a354\"");
	pg_static_free(st);
	remove_root();
}

Test(static_files, empty_folder)
{
	make_root();
	struct pg_static *st = load_ok();
	cr_assert_eq(pg_static_count(st), 0);
	cr_assert_null(pg_static_lookup(st, "/"));
	pg_static_free(st);
	remove_root();
}

Test(static_files, root_must_be_a_real_folder)
{
	make_root();
	dir("real");
	link_to("real", "link");
	char real[128];
	strcpy(real, root);
	strcat(root, "/link");
	load_fails(PG_EPROTO, "symlink");
	strcpy(root, real);
	strcat(root, "/missing");
	load_fails(PG_EPROTO, "No such file");
	strcpy(root, real);
	put("file", "x");
	strcat(root, "/file");
	load_fails(PG_EPROTO, "Not a directory");
	strcpy(root, real);
	remove_root();
}

Test(static_files, depth_cap)
{
	make_root();
	char rel[256] = "";
	for (int d = 1; d <= PG_STATIC_MAX_DEPTH; d++) {
		strcat(rel, d > 1 ? "/d" : "d");
		dir(rel);
	}
	char file[300];
	snprintf(file, sizeof(file), "%s/deep.txt", rel);
	put(file, "deep");
	struct pg_static *st = load_ok();
	cr_assert_not_null(pg_static_lookup(st, "/d/d/d/d/d/d/d/d/deep.txt"));
	pg_static_free(st);
	strcat(rel, "/d");
	dir(rel);
	load_fails(PG_ELIMIT, "8 deep");
	remove_root();
}

Test(static_files, file_count_cap)
{
	make_root();
	char name[32];
	for (int i = 0; i < PG_STATIC_MAX_FILES; i++) {
		snprintf(name, sizeof(name), "f%d.txt", i);
		put(name, "");
	}
	struct pg_static *st = load_ok();
	cr_assert_eq(pg_static_count(st), PG_STATIC_MAX_FILES);
	pg_static_free(st);
	put("one-more.txt", "");
	load_fails(PG_ELIMIT, "4096 files");
	remove_root();
}

Test(static_files, size_cap)
{
	make_root();
	char path[128];
	snprintf(path, sizeof(path), "%s/big.bin", root);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, PG_STATIC_MAX_BYTES), 0);
	close(fd);
	struct pg_static *st = load_ok();
	cr_assert_eq(pg_static_lookup(st, "/big.bin")->len, PG_STATIC_MAX_BYTES);
	pg_static_free(st);
	put("more.txt", "x");
	load_fails(PG_ELIMIT, "64 MiB");
	remove_root();
}

static int respond(const struct pg_static *st, const char *req, struct pg_buf *out)
{
	struct pg_http_req r;
	pg_http_req_init(&r);
	cr_assert_eq(pg_http_parse(&r, (const uint8_t *)req, strlen(req)), (int)strlen(req));
	pg_buf_reset(out);
	int status = pg_static_respond(st, &r, out);
	cr_assert_eq(pg_buf_put_u8(out, 0), 0);
	return status;
}

Test(static_files, answers_requests)
{
	make_root();
	put("index.html", "<p>hi</p>");
	put("app.js", "1;");
	struct pg_static *st = load_ok();
	struct pg_buf out;
	pg_buf_init(&out, 1 << 20);
	const char *etag = pg_static_lookup(st, "/app.js")->etag;

	cr_assert_eq(respond(st, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", &out), 200);
	const char *s = (const char *)out.data;
	cr_assert(strstr(s, "Cache-Control: no-store\r\n"));
	cr_assert(strstr(s, "\r\n\r\n<p>hi</p>"));

	cr_assert_eq(respond(st, "GET /app.js HTTP/1.1\r\nHost: h\r\n\r\n", &out), 200);
	s = (const char *)out.data;
	cr_assert(strstr(s, "Cache-Control: max-age=3600\r\n"));
	char line[64];
	snprintf(line, sizeof(line), "\r\nETag: %s\r\n", etag);
	cr_assert(strstr(s, line));

	char req[256];
	snprintf(req, sizeof(req),
		 "GET /app.js HTTP/1.1\r\nHost: h\r\nIf-None-Match: W/\"x\", %s\r\n\r\n", etag);
	cr_assert_eq(respond(st, req, &out), 304);
	cr_assert_null(strstr((const char *)out.data, "1;"));
	cr_assert_eq(
	    respond(st, "GET /app.js HTTP/1.1\r\nHost: h\r\nIf-None-Match: *\r\n\r\n", &out), 304);
	cr_assert_eq(
	    respond(st, "GET /app.js HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"nope\"\r\n\r\n", &out),
	    200);

	cr_assert_eq(respond(st, "HEAD /app.js HTTP/1.1\r\nHost: h\r\n\r\n", &out), 200);
	s = (const char *)out.data;
	cr_assert(strstr(s, "Content-Length: 2\r\n"));
	cr_assert(strcmp(s + strlen(s) - 4, "\r\n\r\n") == 0);

	cr_assert_eq(respond(st, "GET /nope.js HTTP/1.1\r\nHost: h\r\n\r\n", &out), 404);
	cr_assert(strncmp((const char *)out.data, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	pg_buf_free(&out);
	pg_static_free(st);
	remove_root();
}
