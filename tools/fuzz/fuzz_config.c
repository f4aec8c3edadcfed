/* pg_config_load on an arbitrary config file (the input, in a memfd read through
 * /proc/self/fd/N), then pg_config_check and the policy's own check and resolution.
 * pg_config_check may look at paths named in the input (access(2) only). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "config/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	int fd = memfd_create("pg-fuzz-config", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	for (size_t off = 0; off < size;) {
		ssize_t w = write(fd, data + off, size - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	struct pg_config cfg;
	struct pg_config_errors err = {0};
	pg_config_init(&cfg);
	int rc = pg_config_load(&cfg, path, &err);
	if (rc < 0 && err.count == 0)
		abort();
	if (rc == 0) {
		struct pg_config_errors err2 = {0};
		if (pg_config_check(&cfg, &err2) < 0 && err2.count == 0)
			abort();
		struct pg_config_errors err3 = {0};
		if (pg_policy_check(&cfg.policy, &err3) == 0) {
			static struct pg_policy pol;
			pg_policy_effective(&cfg.policy, "staff,it,x", &pol);
		}
	}
	pg_config_free(&cfg);
	close(fd);
	return 0;
}
