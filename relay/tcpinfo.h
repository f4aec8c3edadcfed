#ifndef PG_RELAY_TCPINFO_H
#define PG_RELAY_TCPINFO_H

#include <stdint.h>

/* Bytes of the connection the peer has acknowledged (TCP_INFO); 0, or -1 when the
 * kernel does not say (then the caller knows only that writes completed). */
int pg_tcp_bytes_acked(int fd, uint64_t *acked);

#endif
