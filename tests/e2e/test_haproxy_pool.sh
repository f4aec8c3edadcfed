#!/usr/bin/env bash
# The HAProxy failover test with the pool broker: both relays choose each user's
# browser host by rendezvous hashing ([broker] mode = pool), with no shared state,
# and a user who reconnects through the other relay gets the same host back.
#   bash tests/e2e/test_haproxy_pool.sh BUILD_DIR
PG_HAPROXY_BROKER=pool exec bash "$(dirname -- "${BASH_SOURCE[0]}")/test_haproxy.sh" "$@"
