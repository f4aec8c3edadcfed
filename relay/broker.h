/* The session broker: which browser host a logged-in user reaches, for [broker]
 * mode = pool (rendezvous hashing over health-checked hosts) and mode = spawn (a
 * hook program starts a host per user and stops it when the session ends). Mode
 * static ([routes]) needs no broker. Loop thread only. See docs/operations.md,
 * "Browser hosts on demand". */
#ifndef PG_RELAY_BROKER_H
#define PG_RELAY_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct pg_relay;
struct pg_viewer;
struct pg_broker;
struct pg_upstream_login;

/* The broker for cfg's [broker] section, health checks started; NULL for mode =
 * static, and on error (with err filled). Keeps no pointer into cfg. */
struct pg_broker *pg_broker_new(struct pg_relay *relay, const struct pg_config *cfg, char *err,
				size_t size);
/* Stop the health checks (shutdown). Hooks still running finish. */
void pg_broker_stop(struct pg_broker *b);
/* After the loop has ended. NULL-safe. */
void pg_broker_del(struct pg_broker *b);

/* The browser host for a viewer that has logged in: 1 with its host:port in out;
 * 0 when it comes later through pg_handshake_route_done (a host is being started;
 * the viewer is held meanwhile); -1 when refused, with *told for the viewer (the
 * audit record is written). */
int pg_broker_route(struct pg_broker *b, struct pg_viewer *v, char *out, size_t size,
		    const char **told);
/* The session at address has ended: pool assignments to it are forgotten, a
 * spawned host is stopped. */
void pg_broker_session_end(struct pg_broker *b, const char *address);
/* How to log in to a spawned host that came with its own password, or NULL. */
const struct pg_upstream_login *pg_broker_login(const struct pg_broker *b, const char *address);

/* The longest a login may wait in pg_broker_route's 0 case, in milliseconds. */
uint64_t pg_broker_wait_ms(const struct pg_broker *b);

/* Pool order, exposed for tests: the rendezvous score of (user, address): the first
 * 8 bytes of SHA-256(user "\0" address), big-endian. */
uint64_t pg_broker_score(const char *user, const char *address);

#endif
