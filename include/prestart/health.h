/* health.h - the HTTP health endpoint (SPEC §5), served by its own thread.
 *
 * GET/HEAD /livez, /healthz: 200 unless the phase is failed (503 then);
 * /readyz: 200 when done, else 503; /status: status_json(); /metrics:
 * status_metrics().  Other methods: 405; unknown paths: 404.  A request
 * larger than 8 KiB or not complete within 2 s is dropped.  Connections are
 * handled one event-loop iteration at a time with poll() on non-blocking
 * sockets, so a slow or hostile client can never stall the pipeline (which
 * never waits on this thread) nor the other clients.  At most
 * HEALTH_MAX_CONNS connections are open; when all are taken, a new one
 * replaces the oldest that has not sent a complete request, so a flood of
 * idle connections cannot lock out a probe.
 */
#ifndef PRESTART_HEALTH_H
#define PRESTART_HEALTH_H

#include <stddef.h>

#include "prestart/status.h"
#include "prestart/util.h"

#ifndef HEALTH_MAX_REQUEST
#define HEALTH_MAX_REQUEST 8192
#endif
#ifndef HEALTH_REQUEST_TIMEOUT_MS
#define HEALTH_REQUEST_TIMEOUT_MS 2000
#endif
#ifndef HEALTH_MAX_CONNS
#define HEALTH_MAX_CONNS 256
#endif

/* Check a "[HOST]:PORT" address ("0.0.0.0:8080", ":8080", "[::1]:8080",
 * "localhost:8080"); ERR_USAGE on bad input. Pure. */
int health_addr_valid(const char *addr, struct err *e);

struct health;

/* Resolve `addr` (an empty host means 0.0.0.0), bind and listen on it
 * (SOCK_CLOEXEC, SO_REUSEADDR), then serve from a new thread that has every
 * signal blocked.  Port 0 picks a free port (see health_port); users never
 * get there because health_addr_valid() rejects it.  Resolution and binding
 * errors (in use, bad address) fail here, ERR_USAGE.  `st` must outlive the
 * endpoint. */
int health_start(struct health **out, const char *addr, struct status *st, struct err *e);
/* The port actually bound. */
int health_port(const struct health *h);
/* Stop the thread, close every socket (before exec) and free h. NULL is
 * fine. */
void health_stop(struct health *h);

#endif
