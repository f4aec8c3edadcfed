/* Browser hosts started per user by a trusted hook program (spawn.h). The hook
 * runs without a shell in a process group of its own, so a timeout can end it
 * and what it started; its stdout is read through a pipe with a cap, and its one
 * line checked before the relay connects anywhere. The user -> host record lives
 * as long as the session on that host. */
#include "relay/spawn.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/audit.h"
#include "relay/log.h"
#include "relay/relay.h"
#include "relay/viewer_impl.h"

#define MAX_WAITERS  16	 /* viewers of one user waiting for one host to start */
#define HOOK_OUT_MAX 512 /* bytes of a hook's stdout kept */
/* After the hook exits, how long its last line may take to come through the pipe
 * (a background child that kept stdout open never closes it). */
#define HOOK_GRACE_MS 500
#define NO_HOST	      "no browser host available"

extern char **environ;

enum spawn_state { SP_STARTING, SP_RUNNING, SP_STOPPING };

struct spawn {
	struct spawn *next;
	struct pg_spawner *b;
	enum spawn_state state;
	char user[65];
	char groups[1024];
	char source[48];
	char session_id[33];
	char address[300];
	bool has_login;
	struct pg_upstream_login login;
	struct pg_viewer *waiters[MAX_WAITERS];
	int nwaiters;
	uint64_t started_ms;
};

/* One run of the hook: a process, its stdout and a deadline. */
struct hook_run {
	struct spawn *sp;
	bool start; /* start, else stop */
	uv_process_t proc;
	uv_pipe_t out;
	uv_timer_t timer;
	int open_handles;
	char buf[HOOK_OUT_MAX + 1];
	size_t len;
	bool eof, exited, timed_out, finished;
	int64_t status;
	int signal;
	char spawn_error[1200];
};

struct pg_spawner {
	struct pg_relay *relay;
	char command[1024];
	char networks[512];
	int spawn_timeout_ms, stop_timeout_ms;
	struct spawn *spawns;
	int hooks_running;
};

static void run_finished(struct hook_run *r);

static void on_run_closed(uv_handle_t *h)
{
	struct hook_run *r = h->data;
	if (--r->open_handles)
		return;
	struct pg_spawner *b = r->sp->b;
	b->hooks_running--;
	run_finished(r);
	OPENSSL_cleanse(r->buf, sizeof(r->buf));
	free(r);
}

static void run_close(struct hook_run *r)
{
	if (r->finished)
		return;
	r->finished = true;
	uv_close((uv_handle_t *)&r->proc, on_run_closed);
	uv_close((uv_handle_t *)&r->out, on_run_closed);
	uv_close((uv_handle_t *)&r->timer, on_run_closed);
}

static bool have_line(const struct hook_run *r)
{
	return memchr(r->buf, '\n', r->len) != NULL;
}

static void on_out_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct hook_run *r = h->data;
	static char sink[256];
	(void)suggested;
	/* Past the cap the rest is read and dropped, so the hook never blocks. */
	if (r->len < HOOK_OUT_MAX)
		*buf = uv_buf_init(r->buf + r->len, (unsigned)(HOOK_OUT_MAX - r->len));
	else
		*buf = uv_buf_init(sink, sizeof(sink));
}

static void on_out(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct hook_run *r = s->data;
	if (n < 0) {
		r->eof = true;
		uv_read_stop(s);
	} else if (buf->base != NULL && r->len < HOOK_OUT_MAX && buf->base == r->buf + r->len) {
		r->len += (size_t)n;
	}
	r->buf[r->len] = '\0';
	if (r->exited && (r->eof || have_line(r)))
		run_close(r);
}

static void on_run_timer(uv_timer_t *t)
{
	struct hook_run *r = t->data;
	if (r->exited) { /* the grace after exit is over */
		run_close(r);
		return;
	}
	r->timed_out = true;
	/* The hook runs in its own process group: what it started goes with it. */
	kill(-r->proc.pid, SIGKILL);
}

static void on_run_exit(uv_process_t *p, int64_t status, int signal)
{
	struct hook_run *r = p->data;
	r->exited = true;
	r->status = status;
	r->signal = signal;
	if (r->eof || have_line(r) || r->timed_out)
		run_close(r);
	else
		uv_timer_start(&r->timer, on_run_timer, HOOK_GRACE_MS, 0);
}

static void env_add(char **env, int *n, const char *key, const char *value)
{
	size_t len = strlen(key) + strlen(value) + 2;
	char *e = malloc(len);
	if (!e)
		return;
	snprintf(e, len, "%s=%s", key, value);
	env[(*n)++] = e;
}

/* Run "hook start USER SESSION" or "hook stop USER SESSION HOST:PORT". 0, or -1
 * when it could not start (r->spawn_error; run_finished is still called), or -2
 * when out of memory (run_finished is not called). */
static int run_hook(struct spawn *sp, bool start)
{
	struct pg_spawner *b = sp->b;
	struct hook_run *r = calloc(1, sizeof(*r));
	if (!r)
		return -2;
	r->sp = sp;
	r->start = start;
	char *args[] = {b->command, start ? "start" : "stop", sp->user, sp->session_id, sp->address,
			NULL};
	if (start)
		args[4] = NULL;
	/* The relay's environment, then what the hook needs to know. */
	int n = 0, cap = 8;
	while (environ[n])
		n++;
	char **env = calloc((size_t)(n + cap + 1), sizeof(*env));
	int ne = 0, nfree = 0;
	if (env) {
		static const char *const own[] = {
		    "PG_USER=", "PG_GROUPS=", "PG_SOURCE=", "PG_SESSION=",
		    "PG_HOST=", "PG_WIDTH=",  "PG_HEIGHT="};
		for (int i = 0; i < n; i++) {
			bool keep = true;
			for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++)
				keep &= strncmp(environ[i], own[k], strlen(own[k])) != 0;
			if (keep)
				env[ne++] = environ[i];
		}
		nfree = ne;
		env_add(env, &ne, "PG_USER", sp->user);
		env_add(env, &ne, "PG_GROUPS", sp->groups);
		env_add(env, &ne, "PG_SOURCE", sp->source);
		env_add(env, &ne, "PG_SESSION", sp->session_id);
		if (!start)
			env_add(env, &ne, "PG_HOST", sp->address);
		env[ne] = NULL;
	}
	uv_loop_t *loop = b->relay->loop;
	uv_pipe_init(loop, &r->out, 0);
	uv_timer_init(loop, &r->timer);
	r->proc.data = r->out.data = r->timer.data = r;
	r->open_handles = 3;
	uv_stdio_container_t stdio[3] = {
	    {.flags = UV_IGNORE},
	    {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&r->out},
	    {.flags = UV_INHERIT_FD, .data.fd = 2},
	};
	uv_process_options_t opts = {
	    .exit_cb = on_run_exit,
	    .file = b->command,
	    .args = args,
	    .env = env,
	    .stdio_count = 3,
	    .stdio = stdio,
	    .flags = UV_PROCESS_DETACHED, /* its own process group, for the timeout */
	};
	int rc = env ? uv_spawn(loop, &r->proc, &opts) : UV_ENOMEM;
	for (int i = nfree; env && i < ne; i++)
		free(env[i]);
	free(env);
	b->hooks_running++;
	if (rc < 0) {
		snprintf(r->spawn_error, sizeof(r->spawn_error), "cannot run %s: %s", b->command,
			 uv_strerror(rc));
		r->exited = true;
		r->status = 127;
		run_close(r);
		return -1;
	}
	uv_read_start((uv_stream_t *)&r->out, on_out_alloc, on_out);
	uv_timer_start(&r->timer, on_run_timer,
		       (uint64_t)(start ? b->spawn_timeout_ms : b->stop_timeout_ms), 0);
	return 0;
}

/* Why a run failed, or NULL when it exited 0 in time. */
static const char *run_failure(const struct hook_run *r, char *why, size_t size)
{
	if (*r->spawn_error)
		return r->spawn_error;
	if (r->timed_out) {
		snprintf(why, size, "timed out after %d s (killed)",
			 (r->start ? r->sp->b->spawn_timeout_ms : r->sp->b->stop_timeout_ms) /
			     1000);
		return why;
	}
	if (r->signal) {
		snprintf(why, size, "ended by signal %d", r->signal);
		return why;
	}
	if (r->status) {
		snprintf(why, size, "exited with status %d", (int)r->status);
		return why;
	}
	return NULL;
}

/* The first line of a password file into login->password. */
static int read_password(const char *path, struct pg_upstream_login *login)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[256];
	bool ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	if (ok) {
		line[strcspn(line, "\r\n")] = '\0';
		size_t n = strlen(line);
		ok = n && n < sizeof(login->password);
		if (ok)
			memcpy(login->password, line, n + 1);
	}
	OPENSSL_cleanse(line, sizeof(line));
	return ok ? 0 : -1;
}

/* Check the hook's one line: "HOST:PORT" or "HOST:PORT PASSWORD-FILE". */
static const char *parse_start_output(struct spawn *sp, const char *buf)
{
	struct pg_spawner *b = sp->b;
	size_t len = strcspn(buf, "\n");
	char line[HOOK_OUT_MAX + 1], host[256];
	int port;
	const char *why;
	if (!buf[len])
		return "printed no complete line (expected HOST:PORT and a newline)";
	memcpy(line, buf, len);
	line[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)line[i]) && line[i] != ' ')
			return "printed a line with control or non-ASCII characters";
	char *space = strchr(line, ' ');
	if (space)
		*space++ = '\0';
	if (pg_config_parse_hostport(line, host, sizeof(host), &port, &why) < 0)
		return "printed no valid HOST:PORT";
	if (!pg_config_in_networks(host, b->networks))
		return "printed an address outside [broker] spawn_networks";
	size_t alen = strlen(line);
	if (alen >= sizeof(sp->address) || alen >= sizeof(sp->login.address))
		return "printed an address too long";
	sp->login = b->relay->upstream;
	memcpy(sp->login.address, line, alen + 1);
	sp->has_login = false;
	if (space && *space) {
		if (*space != '/' || strchr(space, ' '))
			return "printed a password file that is not one absolute path";
		if (read_password(space, &sp->login) < 0)
			return "printed a password file the relay cannot read";
		sp->has_login = true;
	}
	for (struct spawn *o = b->spawns; o; o = o->next) {
		if (o != sp && o->state != SP_STARTING && !strcmp(o->address, line))
			return "printed the address of another user's host";
	}
	memcpy(sp->address, line, alen + 1);
	return NULL;
}

static void spawn_unlink(struct spawn *sp)
{
	for (struct spawn **p = &sp->b->spawns; *p; p = &(*p)->next) {
		if (*p == sp) {
			*p = sp->next;
			break;
		}
	}
	OPENSSL_cleanse(&sp->login, sizeof(sp->login));
	free(sp);
}

static void new_session_id(struct spawn *sp)
{
	uint8_t id[8];
	if (RAND_bytes(id, sizeof(id)) != 1) {
		/* Unique enough to tell runs apart in logs; not a secret. */
		uint64_t t = pg_now_ms() ^ (uint64_t)getpid() << 40;
		memcpy(id, &t, sizeof(id));
	}
	for (int i = 0; i < 8; i++)
		snprintf(sp->session_id + 2 * i, 3, "%02x", id[i]);
}

static void tell_waiters(struct spawn *sp, const char *address, const char *told)
{
	int n = sp->nwaiters;
	struct pg_viewer *w[MAX_WAITERS];
	memcpy(w, sp->waiters, sizeof(w[0]) * (size_t)n);
	sp->nwaiters = 0;
	for (int i = 0; i < n; i++) {
		if (!w[i]->closing)
			pg_handshake_route_done(w[i], address, told);
		pg_viewer_unref(w[i]);
	}
}

static void spawn_start(struct spawn *sp)
{
	struct pg_spawner *b = sp->b;
	sp->state = SP_STARTING;
	sp->address[0] = '\0';
	new_session_id(sp);
	sp->started_ms = pg_now_ms();
	pg_info("broker: starting a browser host for '%s' (session %s)", sp->user, sp->session_id);
	pg_audit(b->relay, "host-spawn", PG_AUDIT_S("user", sp->user),
		 PG_AUDIT_S("source", sp->source), PG_AUDIT_S("session", sp->session_id));
	if (run_hook(sp, true) == -2) {
		pg_err("broker: out of memory starting spawn_command for '%s'", sp->user);
		pg_audit(b->relay, "host-spawn-failed", PG_AUDIT_S("user", sp->user),
			 PG_AUDIT_S("source", sp->source), PG_AUDIT_S("session", sp->session_id),
			 PG_AUDIT_S("reason", "out of memory"));
		tell_waiters(sp, NULL, NO_HOST);
		spawn_unlink(sp);
	}
}

static void start_finished(struct hook_run *r)
{
	struct spawn *sp = r->sp;
	struct pg_spawner *b = sp->b;
	char whybuf[160];
	const char *why = run_failure(r, whybuf, sizeof(whybuf));
	if (!why)
		why = parse_start_output(sp, r->buf);
	if (why) {
		pg_warn("broker: spawn_command start for '%s' (session %s) failed: %s", sp->user,
			sp->session_id, why);
		pg_audit(b->relay, "host-spawn-failed", PG_AUDIT_S("user", sp->user),
			 PG_AUDIT_S("source", sp->source), PG_AUDIT_S("session", sp->session_id),
			 PG_AUDIT_S("reason", why));
		tell_waiters(sp, NULL, NO_HOST);
		spawn_unlink(sp);
		return;
	}
	sp->state = SP_RUNNING;
	pg_info("broker: browser host for '%s' (session %s) is %s (%llu ms)", sp->user,
		sp->session_id, sp->address, (unsigned long long)(pg_now_ms() - sp->started_ms));
	pg_audit(b->relay, "host-spawned", PG_AUDIT_S("user", sp->user),
		 PG_AUDIT_S("session", sp->session_id), PG_AUDIT_S("browser_host", sp->address),
		 PG_AUDIT_U("ms", pg_now_ms() - sp->started_ms));
	/* The session exists from now on even if every waiter left meanwhile: its end,
	 * after [broker] linger without viewers, is what stops the host. */
	struct pg_session *s = pg_session_get(b->relay, sp->address);
	tell_waiters(sp, sp->address, NULL);
	if (s)
		pg_session_linger_if_unused(s);
	else
		pg_spawner_session_end(b, sp->address);
}

static void stop_finished(struct hook_run *r)
{
	struct spawn *sp = r->sp;
	struct pg_spawner *b = sp->b;
	char whybuf[160];
	const char *why = run_failure(r, whybuf, sizeof(whybuf));
	if (why) {
		pg_warn("broker: spawn_command stop for '%s' (session %s, %s) failed: %s", sp->user,
			sp->session_id, sp->address, why);
		pg_audit(b->relay, "host-stop-failed", PG_AUDIT_S("user", sp->user),
			 PG_AUDIT_S("session", sp->session_id),
			 PG_AUDIT_S("browser_host", sp->address), PG_AUDIT_S("reason", why));
	} else {
		pg_info("broker: browser host %s of '%s' (session %s) stopped", sp->address,
			sp->user, sp->session_id);
		pg_audit(b->relay, "host-stopped", PG_AUDIT_S("user", sp->user),
			 PG_AUDIT_S("session", sp->session_id),
			 PG_AUDIT_S("browser_host", sp->address));
	}
	/* Logins that came while it stopped get a fresh host. */
	if (sp->nwaiters && !b->relay->stopping) {
		spawn_start(sp);
		return;
	}
	tell_waiters(sp, NULL, NO_HOST);
	spawn_unlink(sp);
}

static void run_finished(struct hook_run *r)
{
	if (r->start)
		start_finished(r);
	else
		stop_finished(r);
}

int pg_spawner_route(struct pg_spawner *b, struct pg_viewer *v, char *out, size_t size,
		     const char **told)
{
	struct pg_relay *relay = b->relay;
	/* The name becomes an argument and, in the launcher, a folder name. */
	if (!pg_config_valid_name(v->user) || !isalnum((unsigned char)v->user[0])) {
		pg_audit(relay, "session-refused", PG_AUDIT_S("user", v->user),
			 PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_S("reason", "user name unfit for spawn_command"));
		*told = NO_HOST;
		return -1;
	}
	struct spawn *sp = b->spawns;
	while (sp && strcmp(sp->user, v->user))
		sp = sp->next;
	if (sp && sp->state == SP_RUNNING) {
		snprintf(out, size, "%s", sp->address);
		pg_audit(relay, "host-assign", PG_AUDIT_S("user", v->user),
			 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("browser_host", sp->address),
			 PG_AUDIT_S("mode", "spawn"), PG_AUDIT_S("session", sp->session_id),
			 PG_AUDIT_S("reason", "the user's host is running"));
		return 1;
	}
	bool fresh = !sp;
	if (fresh) {
		sp = calloc(1, sizeof(*sp));
		if (!sp) {
			*told = NO_HOST;
			return -1;
		}
		sp->b = b;
		snprintf(sp->user, sizeof(sp->user), "%s", v->user);
		sp->next = b->spawns;
		b->spawns = sp;
	}
	if (sp->nwaiters == MAX_WAITERS) {
		*told = "too many logins of this user at once";
		return -1;
	}
	snprintf(sp->groups, sizeof(sp->groups), "%s", v->groups);
	snprintf(sp->source, sizeof(sp->source), "%s", v->addr);
	pg_viewer_ref(v);
	sp->waiters[sp->nwaiters++] = v;
	if (fresh)
		spawn_start(sp);
	return 0;
}

void pg_spawner_session_end(struct pg_spawner *b, const char *address)
{
	for (struct spawn *sp = b->spawns; sp; sp = sp->next) {
		if (sp->state == SP_RUNNING && !strcmp(sp->address, address)) {
			sp->state = SP_STOPPING;
			pg_info("broker: session on %s of '%s' ended; stopping its host", address,
				sp->user);
			if (run_hook(sp, false) == -2) {
				pg_err("broker: out of memory: cannot stop the host %s of '%s'",
				       address, sp->user);
				pg_audit(b->relay, "host-stop-failed", PG_AUDIT_S("user", sp->user),
					 PG_AUDIT_S("session", sp->session_id),
					 PG_AUDIT_S("browser_host", address),
					 PG_AUDIT_S("reason", "out of memory"));
				tell_waiters(sp, NULL, NO_HOST);
				spawn_unlink(sp);
			}
			return;
		}
	}
}

uint64_t pg_spawner_wait_ms(const struct pg_spawner *b)
{
	/* The hook's deadline, the grace for its last line, and then some. */
	return (uint64_t)b->spawn_timeout_ms + HOOK_GRACE_MS + 5000;
}

const struct pg_upstream_login *pg_spawner_login(const struct pg_spawner *b, const char *address)
{
	for (const struct spawn *sp = b->spawns; sp; sp = sp->next)
		if (sp->has_login && sp->state != SP_STARTING && !strcmp(sp->address, address))
			return &sp->login;
	return NULL;
}

struct pg_spawner *pg_spawner_new(struct pg_relay *relay, const struct pg_config *cfg)
{
	struct pg_spawner *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->relay = relay;
	snprintf(b->command, sizeof(b->command), "%s", cfg->broker_spawn_command);
	snprintf(b->networks, sizeof(b->networks), "%s", cfg->broker_spawn_networks);
	b->spawn_timeout_ms = cfg->broker_spawn_timeout * 1000;
	b->stop_timeout_ms = cfg->broker_stop_timeout * 1000;
	return b;
}

void pg_spawner_del(struct pg_spawner *b)
{
	if (!b)
		return;
	while (b->spawns)
		spawn_unlink(b->spawns);
	free(b);
}
