/* graphtool - drive the revision graph from a text description, for
 * comparing it with Alembic.
 *
 * stdin: one revision per line, "id|down1,down2|label1,label2|dep1,dep2",
 * then a line "%%", then one command per line:
 *
 *   heads | bases | branches
 *   resolve ARG
 *   history CURRENT RANGE            (RANGE "-" for none)
 *   upgrade CURRENT TARGET
 *   downgrade CURRENT TARGET
 *   stamp CURRENT TARGET[,TARGET...] [purge]
 *
 * CURRENT is a comma-separated list of database heads, "-" for none.  Each
 * command's answer ends with a line "END"; failures print
 * "ERROR <kind> <message>".
 */
#include "prestart/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void split_into(struct strlist *l, const char *s)
{
	if (strcmp(s, "-"))
		strlist_split(l, s, ",");
}

static void print_revs(const struct revptrs *r)
{
	for (size_t i = 0; i < r->n; i++)
		printf("%s%s", i ? " " : "", r->v[i]->id);
	printf("\n");
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_plan(const struct plan *p)
{
	struct strlist h = { 0 };

	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];
		printf("step %s %s\n", s->rev ? (s->dir == DIR_UP ? "up" : "down") : "stamp",
		       s->rev ? s->rev->id : "-");
		for (size_t k = s->op_first; k < s->op_first + s->op_count; k++) {
			const struct vt_op *op = &p->ops[k];
			if (op->kind == VT_INSERT)
				printf("  INSERT %s\n", op->to);
			else if (op->kind == VT_DELETE)
				printf("  DELETE %s\n", op->from);
			else
				printf("  UPDATE %s %s\n", op->from, op->to);
		}
	}
	for (size_t i = 0; i < p->end_heads.n; i++)
		strlist_push(&h, p->end_heads.v[i]);
	if (h.n)
		qsort(h.v, h.n, sizeof(*h.v), cmp);
	printf("heads");
	for (size_t i = 0; i < h.n; i++)
		printf(" %s", h.v[i]);
	printf("\n");
	strlist_free(&h);
}

static void command(const struct graph *g, char *line)
{
	char *words[4] = { 0 };
	int nw = 0;
	struct err e = { 0 };
	struct strlist cur = { 0 };
	struct revptrs r = { 0 };
	struct plan p = { 0 };
	int rc = 0;

	for (char *t = strtok(line, " \t"); t && nw < 4; t = strtok(NULL, " \t"))
		words[nw++] = t;
	if (!nw)
		return;
	if (!strcmp(words[0], "heads")) {
		graph_heads(g, &r);
		print_revs(&r);
	} else if (!strcmp(words[0], "bases")) {
		graph_bases(g, &r);
		print_revs(&r);
	} else if (!strcmp(words[0], "branches")) {
		graph_branch_points(g, &r);
		print_revs(&r);
	} else if (!strcmp(words[0], "resolve") && nw == 2) {
		rc = graph_resolve(g, words[1], NULL, &r, &e);
		if (!rc)
			print_revs(&r);
	} else if (!strcmp(words[0], "history") && nw == 3) {
		split_into(&cur, words[1]);
		rc = graph_history(g, &cur, strcmp(words[2], "-") ? words[2] : NULL, &r, &e);
		if (!rc)
			print_revs(&r);
	} else if ((!strcmp(words[0], "upgrade") || !strcmp(words[0], "downgrade")) && nw == 3) {
		split_into(&cur, words[1]);
		if (words[0][0] == 'u')
			rc = graph_plan(g, &cur, words[2], DIR_UP, &p, &e);
		else
			rc = graph_plan(g, &cur, words[2], DIR_DOWN, &p, &e);
		if (!rc)
			print_plan(&p);
	} else if (!strcmp(words[0], "stamp") && nw >= 3) {
		struct strlist t = { 0 };
		split_into(&cur, words[1]);
		strlist_split(&t, words[2], ",");
		rc = graph_plan_stamp(g, &cur, &t, nw == 4 && !strcmp(words[3], "purge"), &p, &e);
		if (!rc)
			print_plan(&p);
		strlist_free(&t);
	} else {
		rc = -1;
		e.kind = ERR_USAGE;
		snprintf(e.msg, sizeof(e.msg), "unknown command '%s'", words[0]);
	}
	if (rc)
		printf("ERROR %d %s\n", e.kind, e.msg);
	printf("END\n");
	fflush(stdout);
	plan_release(&p);
	revptrs_free(&r);
	strlist_free(&cur);
}

static void parse_rev(struct revision *rev, char *line)
{
	char *f[4] = { line, NULL, NULL, NULL };
	int n = 1;

	for (char *p = line; *p && n < 4; p++)
		if (*p == '|') {
			*p = '\0';
			f[n++] = p + 1;
		}
	memset(rev, 0, sizeof(*rev));
	rev->id = xstrdup(f[0]);
	if (f[1])
		strlist_split(&rev->down, f[1], ",");
	if (f[2])
		strlist_split(&rev->labels, f[2], ",");
	if (f[3])
		strlist_split(&rev->depends, f[3], ",");
	rev->message = xstrdup("");
	rev->path = xasprintf("versions/%s.sql", rev->id);
	rev->transactional = 1;
}

int main(void)
{
	struct revision_set set = { 0 };
	struct graph *g = NULL;
	struct err e = { 0 };
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int in_cmds = 0, rc = 0;

	while ((len = getline(&line, &cap, stdin)) >= 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!in_cmds) {
			if (!strcmp(line, "%%")) {
				in_cmds = 1;
				if (graph_build(&set, &g, &e) < 0) {
					printf("ERROR %d %s\nEND\n", e.kind, e.msg);
					rc = 3;
					break;
				}
				printf("BUILT\nEND\n");
				fflush(stdout);
				continue;
			}
			if (!*line)
				continue;
			xgrow((void **)&set.v, &set.alloc, set.n + 1, sizeof(*set.v));
			parse_rev(&set.v[set.n++], line);
			continue;
		}
		command(g, line);
	}
	free(line);
	graph_free(g);
	for (size_t i = 0; i < set.n; i++) {
		free(set.v[i].id);
		free(set.v[i].message);
		free(set.v[i].path);
		strlist_free(&set.v[i].down);
		strlist_free(&set.v[i].labels);
		strlist_free(&set.v[i].depends);
	}
	free(set.v);
	return rc;
}
