/* A server that can take writes (SPEC §7.4): a hot standby, or a server
 * with default_transaction_read_only, is not ready for a command that
 * writes.  Waiting for it is the wait step over again: bounded by
 * --wait-timeout, with §4's backoff, each try on a new connection (a
 * multi-host URL with target_session_attrs=read-write then finds the new
 * primary; a promoted standby is seen either way). */
#include <stdio.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/log.h"
#include "prestart/wait.h"

int ctx_wait_writable(struct ctx *c, long long *since)
{
	long long limit = c->cfg.wait_timeout_ms;
	unsigned long long rnd = (unsigned long long)now_ms() * 0x9E3779B97F4A7C15ULL;
	unsigned tries = 0;
	enum phase before = status_phase(&c->st);
	char why[1100];

	for (;;) {
		struct err e = { 0 };
		int ro = 0, r;

		if (c->db_opened && db_read_only(&c->db, &ro, why, sizeof(why)) == 0 && !ro) {
			if (tries)
				log_event(LOG_INFO, "writable",
					  (struct log_field[]){ LFI("elapsed_ms", now_ms() - *since),
								{ 0 } },
					  "the server takes writes now (after %lld ms)",
					  now_ms() - *since);
			if (tries)
				status_set_phase(&c->st, before);
			return 0;
		}
		if (!ro)
			snprintf(why, sizeof(why), "%s",
				 c->db_opened ? c->db.errstr : "not connected");
		if (!*since)
			*since = now_ms();
		tries++;
		if (tries == 1)
			status_set_phase(&c->st, PHASE_WAITING);
		log_event(LOG_WARN, "standby",
			  (struct log_field[]){ LFS("reason", why), LFI("attempt", tries),
						LFI("elapsed_ms", now_ms() - *since), { 0 } },
			  "not ready for writing: %s; waiting for a primary (attempt %u, %lld ms)",
			  why, tries, now_ms() - *since);
		if (c->stop && *c->stop) {
			err_set(&c->e, 128 + (int)*c->stop,
				"interrupted by signal %d while waiting for a primary", (int)*c->stop);
			return ctx_fail(c);
		}
		if (limit > 0 && now_ms() - *since >= limit) {
			err_set(&c->e, ERR_TIMEOUT,
				"the database did not take writes within %lld ms: %s", limit, why);
			return ctx_fail(c);
		}
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		{
			long long pause = wait_backoff_ms(tries, rnd);

			if (limit > 0 && *since + limit - now_ms() < pause)
				pause = *since + limit - now_ms();
			nap_ms(pause, c->stop);
		}
		r = ctx_reconnect(c, &e);
		c->db_opened = r == 0;
		if (r < 0) {
			c->e = e;
			return ctx_fail(c);
		}
	}
}
