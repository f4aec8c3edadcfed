/* The spawn half of the session broker (broker.h): a hook program starts a
 * browser host per user and stops it when the session on it ends. Loop thread
 * only. See docs/operations.md, "Spawn: the hook protocol". */
#ifndef PG_RELAY_SPAWN_H
#define PG_RELAY_SPAWN_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct pg_relay;
struct pg_viewer;
struct pg_spawner;
struct pg_upstream_login;

/* From [broker] spawn_*; keeps no pointer into cfg. NULL when out of memory. */
struct pg_spawner *pg_spawner_new(struct pg_relay *relay, const struct pg_config *cfg);
/* After the loop has ended (no hook runs any more). NULL-safe. */
void pg_spawner_del(struct pg_spawner *s);
/* As pg_broker_route: 1 with the user's running host in out, 0 when the viewer
 * (referenced meanwhile) is answered later through pg_handshake_route_done, -1
 * refused with *told. */
int pg_spawner_route(struct pg_spawner *s, struct pg_viewer *v, char *out, size_t size,
		     const char **told);
/* The session at address ended: run the hook's stop for the host there, if any. */
void pg_spawner_session_end(struct pg_spawner *s, const char *address);
/* The login a hook gave with its host (its password file), or NULL. */
const struct pg_upstream_login *pg_spawner_login(const struct pg_spawner *s, const char *address);
/* The longest a route may stay pending, in milliseconds. */
uint64_t pg_spawner_wait_ms(const struct pg_spawner *s);

#endif
