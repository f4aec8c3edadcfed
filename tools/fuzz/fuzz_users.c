/* pg_users_parse on arbitrary text, as a users file read from disk would be: no
 * crash, no leak, and on failure no database and an error message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_users *db = (struct pg_users *)1;
	char err[256] = "";
	int rc = pg_users_parse((const char *)data, size, "fuzz", &db, err, sizeof(err));
	if (rc == 0) {
		if (!db)
			abort();
		pg_users_del(db);
	} else if (db || !err[0] || !memchr(err, 0, sizeof(err))) {
		abort();
	}
	return 0;
}
