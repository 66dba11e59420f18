/* pymeta.c - metadata of .py revisions that only Python can compute, read
 * by Alembic in one child process.
 *
 *   the program          what the child runs
 *   answers              its output, one JSON object per file, applied
 *   interpreters         which Pythons to try, in order
 *   the child            what is left of its output (child.c runs it)
 *   pymeta_resolve       all of it
 */
#include "prestart/pymeta.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prestart/child.h"
#include "prestart/exec.h"
#include "prestart/log.h"
#include "prestart/pyrev.h"

/* ---- the program -------------------------------------------------------
 * argv: the alembic.ini ("" for none), then the files.  Each module is
 * loaded as Alembic loads it (Script._from_path), with the sys.path the
 * alembic command would have: its prepend_sys_path, and not the working
 * directory that `python -c` adds.  Anything a module prints goes to
 * stderr; stdout carries the answers only.  Exit status 77: no Alembic. */
#define NO_ALEMBIC 77
static const char program[] =
	"import json, os, sys\n"
	"try:\n"
	"    from alembic import util\n"
	"    from alembic.script.base import Script\n"
	"except Exception as ex:\n"
	"    sys.stderr.write('%s: %s\\n' % (type(ex).__name__, ex))\n"
	"    sys.exit(77)\n"
	"out = os.fdopen(os.dup(1), 'w', encoding='utf-8', errors='backslashreplace')\n"
	"os.dup2(2, 1)\n"
	"sys.stdout = sys.stderr\n"
	"if sys.path and sys.path[0] == '':\n"
	"    del sys.path[0]\n"
	"if sys.argv[1]:\n"
	"    try:\n"
	"        from alembic.config import Config\n"
	"        from alembic.script import ScriptDirectory\n"
	"        ScriptDirectory.from_config(Config(sys.argv[1]))\n"
	"    except Exception:\n"
	"        pass\n"
	"class Dir:\n"
	"    sourceless = False\n"
	"def strs(name, v):\n"
	"    v = list(util.to_tuple(v, default=()))\n"
	"    for x in v:\n"
	"        if not isinstance(x, str):\n"
	"            raise TypeError('%s holds %r, not a string' % (name, x))\n"
	"    return v\n"
	"for path in sys.argv[2:]:\n"
	"    try:\n"
	"        s = Script._from_path(Dir, path)\n"
	"        if not isinstance(s.revision, str):\n"
	"            raise TypeError('revision is %r, not a string' % (s.revision,))\n"
	"        rec = {'path': path, 'revision': s.revision,\n"
	"               'down_revision': strs('down_revision', s.down_revision),\n"
	"               'branch_labels': strs('branch_labels', s._orig_branch_labels),\n"
	"               'depends_on': strs('depends_on', s.dependencies or None),\n"
	"               'doc': s.longdoc}\n"
	"    except (Exception, SystemExit) as ex:\n"
	"        rec = {'path': path, 'error': '%s: %s' % (type(ex).__name__, ex)}\n"
	"    out.write(json.dumps(rec, ensure_ascii=False) + '\\n')\n"
	"out.flush()\n";

/* ---- answers ----------------------------------------------------------- */

enum { L_DOWN, L_LABELS, L_DEPENDS, L_COUNT };
static const char *const list_keys[L_COUNT] = { "down_revision", "branch_labels", "depends_on" };

struct answer {
	char *path, *revision, *doc, *error;
	struct strlist lists[L_COUNT];
	int has[L_COUNT];
};

static void answer_release(struct answer *a)
{
	free(a->path);
	free(a->revision);
	free(a->doc);
	free(a->error);
	for (int i = 0; i < L_COUNT; i++)
		strlist_free(&a->lists[i]);
	memset(a, 0, sizeof(*a));
}

static void skip_blanks(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

static int hex4(const char *s, unsigned *cp)
{
	*cp = 0;
	for (int i = 0; i < 4; i++) {
		int v = hexval((unsigned char)s[i]);

		if (v < 0)
			return -1;
		*cp = *cp * 16 + (unsigned)v;
	}
	return 0;
}

/* A JSON string at *p (json.dumps with ensure_ascii=False: UTF-8 as it
 * is, \uXXXX only for control characters) appended to b. */
static int json_string(const char **p, struct sbuf *b)
{
	const char *s = *p;

	if (*s++ != '"')
		return -1;
	while (*s != '"') {
		unsigned cp;

		if (!*s)
			return -1;
		if (*s != '\\') {
			sbuf_addc(b, *s++);
			continue;
		}
		switch (s[1]) {
		case '"': case '\\': case '/': sbuf_addc(b, s[1]); break;
		case 'b': sbuf_addc(b, '\b'); break;
		case 'f': sbuf_addc(b, '\f'); break;
		case 'n': sbuf_addc(b, '\n'); break;
		case 'r': sbuf_addc(b, '\r'); break;
		case 't': sbuf_addc(b, '\t'); break;
		case 'u':
			if (hex4(s + 2, &cp) < 0)
				return -1;
			if (cp < 0x80) {
				sbuf_addc(b, (char)cp);
			} else if (cp < 0x800) {
				sbuf_addc(b, (char)(0xc0 | (cp >> 6)));
				sbuf_addc(b, (char)(0x80 | (cp & 0x3f)));
			} else {
				sbuf_addc(b, (char)(0xe0 | (cp >> 12)));
				sbuf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
				sbuf_addc(b, (char)(0x80 | (cp & 0x3f)));
			}
			s += 4;
			break;
		default:
			return -1;
		}
		s += 2;
	}
	*p = s + 1;
	return 0;
}

static char *json_string_dup(const char **p)
{
	struct sbuf b = { 0 };

	if (json_string(p, &b) < 0) {
		sbuf_free(&b);
		return NULL;
	}
	sbuf_addc(&b, '\0'); /* an allocation for "" too */
	return sbuf_detach(&b);
}

/* One answer line: {"path": ..., "revision": ..., "down_revision": [...],
 * ..., "doc": ...} or {"path": ..., "error": ...}. */
static int parse_answer(const char *line, struct answer *a)
{
	const char *p = line;

	memset(a, 0, sizeof(*a));
	skip_blanks(&p);
	if (*p++ != '{')
		return -1;
	for (skip_blanks(&p); *p != '}';) {
		char *key = json_string_dup(&p), **dst = NULL;
		int l;

		if (!key)
			return -1;
		for (l = 0; l < L_COUNT && strcmp(key, list_keys[l]); l++)
			;
		dst = !strcmp(key, "path") ? &a->path : !strcmp(key, "revision") ? &a->revision
			: !strcmp(key, "doc") ? &a->doc : !strcmp(key, "error") ? &a->error : NULL;
		free(key);
		skip_blanks(&p);
		if (*p++ != ':')
			return -1;
		skip_blanks(&p);
		if (l < L_COUNT && *p == '[' && !a->has[l]) {
			a->has[l] = 1;
			for (p++, skip_blanks(&p); *p != ']';) {
				char *item = json_string_dup(&p);

				if (!item)
					return -1;
				strlist_push_owned(&a->lists[l], item);
				skip_blanks(&p);
				if (*p == ',')
					p++;
				else if (*p != ']')
					return -1;
				skip_blanks(&p);
			}
			p++;
		} else if (dst && !*dst && *p == '"') {
			if (!(*dst = json_string_dup(&p)))
				return -1;
		} else {
			return -1;
		}
		skip_blanks(&p);
		if (*p == ',')
			p++;
		else if (*p != '}')
			return -1;
		skip_blanks(&p);
	}
	p++;
	skip_blanks(&p);
	return *p || !a->path ? -1 : 0;
}

/* Complete rev with Alembic's answer a (whose values it takes). */
static int fill(struct revision *rev, struct answer *a, const char *python, struct err *e)
{
	if (a->error)
		return err_set(e, ERR_SCRIPT, "%s: %s could not load it: %s", rev->path, python,
			       a->error);
	if (!a->revision || !a->doc || !a->has[L_DOWN] || !a->has[L_LABELS] || !a->has[L_DEPENDS])
		return err_set(e, ERR_SCRIPT, "%s: incomplete answer from %s", rev->path, python);
	if (!revision_valid_id(a->revision))
		return err_set(e, ERR_SCRIPT,
			       "%s: invalid revision id '%s' (computed by Python; 1-32 characters "
			       "of A-Z a-z 0-9 _ . -)",
			       rev->path, a->revision);
	for (int l = 0; l < L_COUNT; l++) {
		for (size_t i = 0; i < a->lists[l].n; i++) {
			const char *v = a->lists[l].v[i];
			int ok = l == L_DOWN ? revision_valid_id(v) : revision_valid_label(v);

			if (!ok)
				return err_set(e, ERR_SCRIPT, "%s: invalid %s '%s' in '%s' (computed by "
					       "Python)", rev->path, l == L_DOWN ? "revision id" : "name",
					       v, list_keys[l]);
		}
	}
	free(rev->id);
	rev->id = a->revision;
	a->revision = NULL;
	strlist_free(&rev->down);
	strlist_free(&rev->labels);
	strlist_free(&rev->depends);
	rev->down = a->lists[L_DOWN];
	rev->labels = a->lists[L_LABELS];
	rev->depends = a->lists[L_DEPENDS];
	memset(a->lists, 0, sizeof(a->lists));
	pyrev_set_doc(rev, a->doc);
	free(rev->unread);
	rev->unread = NULL;
	return 0;
}

int pymeta_apply(struct revision_set *set, const char *out, const char *python, struct err *e)
{
	const char *line = out;
	int rc = -1;

	while (*line) {
		size_t n = strcspn(line, "\n");
		char *l = xstrndup(line, n);
		struct answer a;
		size_t i;
		int r = 0;

		line += n + (line[n] == '\n');
		if (!n) {
			free(l);
			continue;
		}
		if (parse_answer(l, &a) < 0) {
			err_set(e, ERR_SCRIPT, "unreadable answer from %s: '%.100s'", python, l);
			r = -1;
		} else {
			for (i = 0; i < set->n; i++)
				if (set->v[i].unread && !strcmp(set->v[i].path, a.path))
					break;
			if (i == set->n)
				r = err_set(e, ERR_SCRIPT, "unexpected answer from %s about '%s'",
					    python, a.path);
			else
				r = fill(&set->v[i], &a, python, e);
		}
		answer_release(&a);
		free(l);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < set->n; i++) {
		if (set->v[i].unread) {
			err_set(e, ERR_SCRIPT, "%s: no answer from %s", set->v[i].path, python);
			goto out;
		}
	}
	rc = 0;
out:
	return rc;
}

/* ---- interpreters ------------------------------------------------------ */

struct found {
	struct strlist paths;
	struct { dev_t dev; ino_t ino; } *ids;
	size_t nids, alloc;
};

/* Add `path` unless the same file (not following a last symbolic link: a
 * venv's python is a link, and not the same Python) is there already. */
static void found_add(struct found *f, const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	for (size_t i = 0; i < f->nids; i++)
		if (f->ids[i].dev == st.st_dev && f->ids[i].ino == st.st_ino)
			return;
	xgrow((void **)&f->ids, &f->alloc, f->nids + 1, sizeof(*f->ids));
	f->ids[f->nids].dev = st.st_dev;
	f->ids[f->nids].ino = st.st_ino;
	f->nids++;
	strlist_push(&f->paths, path);
}

/* The executables `name` stands for, as execvp() looks it up: itself when
 * it holds a '/', else each PATH directory's (all = 0: the first only). */
static void lookup(const char *name, int all, struct strlist *out)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/')) {
		if (access(name, X_OK) == 0)
			strlist_push(out, name);
		return;
	}
	if (!path)
		path = "/bin:/usr/bin"; /* execvp()'s default */
	for (const char *p = path;; p++) {
		size_t n = strcspn(p, ":");
		char *cand = xasprintf("%.*s%s%s", (int)n, n ? p : ".", "/", name);
		struct stat st;

		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
			strlist_push_owned(out, cand);
			if (!all)
				return;
		} else {
			free(cand);
		}
		p += n;
		if (!*p)
			return;
	}
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* The Python the alembic_command runs: its first word when that is a
 * python, else the interpreter of the script it names (`#!/venv/bin/python`,
 * `#!/usr/bin/env python3`). */
static void configured_python(const char *command, struct found *f)
{
	struct strlist argv = { 0 }, where = { 0 }, py = { 0 };
	struct err e = { 0 };
	char line[256], *interp, *arg = NULL;
	ssize_t n;
	int fd;

	if (exec_split(command && *command ? command : "alembic", &argv, &e) < 0 || !argv.n)
		goto out;
	if (str_has_prefix(base_name(argv.v[0]), "python")) {
		lookup(argv.v[0], 0, &py);
		goto out;
	}
	lookup(argv.v[0], 0, &where);
	if (!where.n || (fd = open(where.v[0], O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		goto out;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n < 2 || line[0] != '#' || line[1] != '!')
		goto out;
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	interp = line + 2 + strspn(line + 2, " \t");
	if (interp[strcspn(interp, " \t")]) {
		arg = interp + strcspn(interp, " \t");
		*arg++ = '\0';
		arg += strspn(arg, " \t");
		arg[strcspn(arg, " \t")] = '\0';
	}
	if (!strcmp(base_name(interp), "env") && arg && *arg)
		interp = arg;
	if (str_has_prefix(base_name(interp), "python"))
		lookup(interp, 0, &py);
out:
	for (size_t i = 0; i < py.n; i++)
		found_add(f, py.v[i]);
	strlist_free(&py);
	strlist_free(&where);
	strlist_free(&argv);
}

static void find_pythons(const char *command, struct found *f)
{
	struct strlist on_path = { 0 };

	configured_python(command, f);
	lookup("python3", 1, &on_path);
	for (size_t i = 0; i < on_path.n; i++)
		found_add(f, on_path.v[i]);
	strlist_free(&on_path);
}

/* ---- the child --------------------------------------------------------- */

/* The last non-empty line of a child's stderr (a traceback's verdict). */
static char *last_line(const struct sbuf *b)
{
	const char *s = b->buf ? b->buf : "", *end = s + b->len, *start;

	while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	for (start = end; start > s && start[-1] != '\n'; start--)
		;
	return xstrndup(start, (size_t)(end - start));
}

/* ---- pymeta_resolve ---------------------------------------------------- */

int pymeta_resolve(struct revision_set *set, const struct pymeta_opts *o, struct err *e)
{
	struct strlist files = { 0 }, tried = { 0 };
	struct found py = { 0 };
	const struct revision *first = NULL;
	int rc = -1;

	for (size_t i = 0; i < set->n; i++) {
		if (set->v[i].unread) {
			if (!first)
				first = &set->v[i];
			strlist_push(&files, set->v[i].path);
		}
	}
	if (!files.n)
		return 0;
	find_pythons(o->alembic_command, &py);
	for (size_t k = 0; k < py.paths.n; k++) {
		const char *python = py.paths.v[k];
		struct strlist argv = { 0 };
		struct sbuf out = { 0 }, err = { 0 };
		char *what = xasprintf("'%s'", python), *why = NULL;
		/* stdin is /dev/null: a module that reads it must not wait for
		 * prestart's; a child that outlives a forwarded signal by 10 s
		 * is killed. */
		struct child_opts co = { .what = what, .capture_out = &out, .capture_err = &err,
					 .stdin_null = 1, .stop = o->stop, .kill_after_ms = 10000 };
		struct child_exit x;
		int st;

		strlist_push(&argv, python);
		strlist_push(&argv, "-B"); /* leave no bytecode beside the revisions */
		strlist_push(&argv, "-c");
		strlist_push(&argv, program);
		strlist_push(&argv, o->ini ? o->ini : "");
		for (size_t i = 0; i < files.n; i++)
			strlist_push(&argv, files.v[i]);
		if (child_run(argv.v, &co, &x, e) < 0 ||
		    (x.stopped && child_check(&x, what, NULL, e) < 0)) {
			strlist_free(&argv);
			goto child_done;
		}
		strlist_free(&argv);
		st = WIFEXITED(x.status) ? WEXITSTATUS(x.status) : -1;
		if (st == 0) {
			if (pymeta_apply(set, out.buf ? out.buf : "", python, e) == 0) {
				char *list = strlist_join(&files, ", ");

				log_event(LOG_INFO, "python_metadata",
					  (struct log_field[]){ LFI("revisions", files.n),
								LFS("python", python), { 0 } },
					  "read %zu %s metadata with Python (%s): %s", files.n,
					  files.n == 1 ? "revision's" : "revisions'", python, list);
				free(list);
				rc = 0;
			}
			goto child_done;
		}
		why = last_line(&err);
		if (st == NO_ALEMBIC || st == 126 || st == 127) {
			strlist_push_owned(&tried, xasprintf("%s: %s", python,
							     st == NO_ALEMBIC && *why ? why
							     : "cannot run it"));
			free(why);
			free(what);
			sbuf_free(&out);
			sbuf_free(&err);
			continue;
		}
		if (st < 0)
			err_set(e, ERR_SCRIPT, "%s was killed by signal %d reading the metadata of %s",
				python, WTERMSIG(x.status), first->path);
		else
			err_set(e, ERR_SCRIPT, "%s exited with status %d reading the metadata of %s%s%s",
				python, st, first->path, *why ? ": " : "", why);
		free(why);
child_done:
		free(what);
		sbuf_free(&out);
		sbuf_free(&err);
		goto out;
	}
	{
		char *t = strlist_join(&tried, "; ");

		err_set(e, ERR_SCRIPT,
			"%s; %s%s%s: put a python3 that can import Alembic on PATH, or write the "
			"value as a string, None or a tuple of strings",
			first->unread,
			tried.n ? "no Python on PATH can import Alembic (" : "no python3 on PATH",
			t, tried.n ? ")" : "");
		free(t);
	}
out:
	strlist_free(&files);
	strlist_free(&tried);
	strlist_free(&py.paths);
	free(py.ids);
	return rc;
}
