/* termlog.c - the termination message of SPEC §7.4. */
#include "prestart/termlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHOLE ((size_t)-1)

/* v as a JSON string, cut to at most `cut` bytes (then "...") on a
 * character boundary: the message stays valid UTF-8. */
static void opt_str(struct sbuf *b, const char *v, size_t cut)
{
	if (!v || !*v) {
		sbuf_adds(b, "null");
	} else if (cut != WHOLE && strlen(v) > cut) {
		char *s = xstrndup(v, cut), *d;

		utf8_trim_partial(s);
		d = xasprintf("%s...", s);
		sbuf_add_json_str(b, d);
		free(d);
		free(s);
	} else {
		sbuf_add_json_str(b, v);
	}
}

static char *render(const struct termlog_info *t, size_t cut_error, size_t cut_rev,
		    const char *blockers, const char *hold)
{
	struct sbuf b = { 0 };

	sbuf_addf(&b, "{\"exit_code\":%d,\"phase\":", t->exit_code);
	opt_str(&b, t->phase ? t->phase : "unknown", WHOLE);
	sbuf_adds(&b, ",\"error\":");
	opt_str(&b, t->error, cut_error);
	sbuf_adds(&b, ",\"revision\":");
	opt_str(&b, t->revision, cut_rev);
	sbuf_adds(&b, ",\"sqlstate\":");
	opt_str(&b, t->sqlstate, WHOLE);
	sbuf_addf(&b, ",\"blockers\":%s,\"elapsed_ms\":%lld",
		  blockers && *blockers ? blockers : "[]", t->elapsed_ms);
	if (hold && *hold)
		sbuf_addf(&b, ",\"lock_hold\":%s", hold);
	sbuf_adds(&b, "}\n");
	return sbuf_detach(&b);
}

/* Halve *cut (starting from half the field, at most `start`) until the
 * document fits or the field is down to 16 bytes; 1 when it fits. */
static int shorten(const struct termlog_info *t, size_t max, size_t len, size_t start,
		   size_t *cut_e, size_t *cut_r, size_t *cut, const char *blockers, char **s)
{
	if (len <= 16)
		return 0;
	for (*cut = len / 2 < start ? len / 2 : start;; *cut /= 2) {
		free(*s);
		*s = render(t, *cut_e, *cut_r, blockers, t->lock_hold);
		if (strlen(*s) <= max)
			return 1;
		if (*cut <= 16)
			return 0;
	}
}

char *termlog_json(const struct termlog_info *t, size_t max)
{
	size_t el = t->error ? strlen(t->error) : 0, rl = t->revision ? strlen(t->revision) : 0;
	size_t cut_e = WHOLE, cut_r = WHOLE;
	char *s = render(t, WHOLE, WHOLE, t->blockers, t->lock_hold);
	struct termlog_info u;

	/* Escaping can grow a byte into six: shorten until it fits.  The
	 * error goes first (its start says what failed), then the revision,
	 * then the blockers give way; every step shortens, so it ends. */
	if (strlen(s) <= max ||
	    shorten(t, max, el, max / 2, &cut_e, &cut_r, &cut_e, t->blockers, &s) ||
	    shorten(t, max, rl, max / 4, &cut_e, &cut_r, &cut_r, t->blockers, &s))
		return s;
	free(s);
	s = render(t, cut_e, cut_r, "[]", t->lock_hold);
	if (strlen(s) <= max)
		return s;
	free(s);
	s = render(t, cut_e, cut_r, "[]", NULL);
	if (strlen(s) <= max)
		return s;
	free(s);
	u = *t;
	u.error = u.revision = NULL;
	return render(&u, WHOLE, WHOLE, "[]", NULL);
}

const char *termlog_path(const char *path)
{
	if (path)
		return *path ? path : NULL;
	return access(TERMLOG_DEFAULT, W_OK) == 0 ? TERMLOG_DEFAULT : NULL;
}

int termlog_check(const char *path, const char *setting, struct err *e)
{
	struct stat st;
	const char *kind;
	char *dir;
	int rc = 0;

	if (!path || !*path)
		return 0;
	if (stat(path, &st) == 0 && (kind = file_kind_refused(st.st_mode, 1)))
		return err_set(e, ERR_USAGE,
			       "cannot write %s '%s': it is %s, not a regular file or a character "
			       "device",
			       setting, path, kind);
	if (access(path, W_OK) == 0)
		return 0;
	if (errno != ENOENT)
		return err_set(e, ERR_USAGE, "cannot write %s '%s': %s", setting, path,
			       strerror(errno));
	dir = path_dirname(path);
	if (access(dir, W_OK | X_OK) != 0)
		rc = err_set(e, ERR_USAGE, "cannot write %s '%s': directory '%s': %s", setting,
			     path, dir, strerror(errno));
	free(dir);
	return rc;
}

int termlog_write(const char *path, const struct termlog_info *t, struct err *e)
{
	char *s = termlog_json(t, TERMLOG_MAX);
	size_t len = strlen(s), off = 0;
	const char *kind;
	int fd = open_plain(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, 1, &kind), rc = 0;

	if (fd < 0 && kind) {
		rc = err_set(e, ERR_FAILED,
			     "cannot write the termination log '%s': it is %s, not a regular file",
			     path, kind);
		goto out;
	}
	if (fd < 0) {
		rc = err_set(e, ERR_FAILED, "cannot write the termination log '%s': %s", path,
			     strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, s + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = err_set(e, ERR_FAILED, "cannot write the termination log '%s': %s",
				     path, strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 && rc == 0)
		rc = err_set(e, ERR_FAILED, "cannot write the termination log '%s': %s", path,
			     strerror(errno));
out:
	free(s);
	return rc;
}
