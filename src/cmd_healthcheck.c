/* healthcheck [URL]: an HTTP GET for images that have no curl or wget. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/cmd.h"
#include "prestart/ctx.h"
#include "prestart/log.h"

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* The default URL: the configured health endpoint's /livez on loopback. */
static char *default_url(const char *addr)
{
	const char *colon = addr ? strrchr(addr, ':') : NULL;

	if (!colon)
		return NULL;
	return xasprintf("http://127.0.0.1:%s/livez", colon + 1);
}

int cmd_healthcheck(struct ctx *c)
{
	long long timeout_ms = 5000;
	char *url = NULL;
	CURL *h;
	CURLcode cr;
	long code = 0;
	int rc = 1;

	if (c->cli->timeout && (config_parse_duration(c->cli->timeout, &timeout_ms) < 0 ||
				timeout_ms <= 0))
		return usage_error("invalid duration '%s' for --timeout", c->cli->timeout);
	if (c->cli->args.n) {
		url = xstrdup(c->cli->args.v[0]);
	} else {
		/* --health-addr, PRESTART_HEALTH_ADDR or the config file's
		 * health_addr, as the run it probes reads it */
		url = default_url(c->cfg.health_addr);
		if (!url)
			return usage_error("healthcheck needs a URL, or a health address to probe: "
					   "--health-addr, PRESTART_HEALTH_ADDR or health_addr in "
					   "the config file");
	}
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		rc = usage_error("healthcheck URL must start with http:// or https://: '%s'", url);
		free(url);
		return rc;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(url);
		return usage_error("cannot initialise libcurl");
	}
	h = curl_easy_init();
	if (!h) {
		curl_global_cleanup();
		free(url);
		return usage_error("cannot initialise libcurl");
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "prestart-healthcheck");
	cr = curl_easy_perform(h);
	if (cr != CURLE_OK) {
		log_event(LOG_ERROR, "healthcheck", NULL, "%s: %s", url, curl_easy_strerror(cr));
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		rc = code >= 200 && code < 300 ? 0 : 1;
		log_event(rc ? LOG_ERROR : LOG_INFO, "healthcheck",
			  (struct log_field[]){ LFI("status", code), { 0 } }, "%s: HTTP %ld", url, code);
	}
	curl_easy_cleanup(h);
	curl_global_cleanup();
	free(url);
	return rc;
}
