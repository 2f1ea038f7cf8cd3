/*
 * pinyin.c: Han text to a pinyin matching key.
 *
 * ICU's Han-Latin gives one reading per character, which is wrong for
 * surnames read differently (单 shan, 曾 zeng, 解 xie, 仇 qiu, 区 ou, 朴
 * piao, 查 zha) and for place names (长沙 chang sha, 重庆 chong qing).
 * The override table fixes those; every other character keeps its single
 * ICU reading, which is what makes the key consistent on both sides of a
 * comparison.
 */
#include "pinyin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unicode.h"
#include "utf8.h"

#define MAX_KEY_CHARS 8

typedef struct Override
{
	uint32_t	key[MAX_KEY_CHARS];
	int			key_len;
	bool		surname;
	char	   *key_text;
	char	   *reading;
} Override;

typedef struct OverrideTable
{
	Override   *items;			/* sorted by first key character */
	int			n;
} OverrideTable;

static OverrideTable overrides;

/* A growable output string. */
typedef struct Buffer
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buffer;

static void
buffer_word(Buffer *buf, const char *word, size_t len)
{
	size_t		need = buf->len + len + 2;

	if (need > buf->cap)
	{
		char	   *bigger;

		buf->cap = need * 2;
		bigger = crm_alloc(buf->cap);
		if (buf->data)
		{
			memcpy(bigger, buf->data, buf->len);
			crm_free(buf->data);
		}
		buf->data = bigger;
	}
	if (buf->len > 0)
		buf->data[buf->len++] = ' ';
	memcpy(buf->data + buf->len, word, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

/* The longest override whose key starts at s[i]. */
static const Override *
find_override(const uint32_t *s, size_t i, size_t n, bool at_head)
{
	int			lo = 0;
	int			hi = overrides.n;
	const Override *best = NULL;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (overrides.items[mid].key[0] < s[i])
			lo = mid + 1;
		else
			hi = mid;
	}
	for (int k = lo; k < overrides.n && overrides.items[k].key[0] == s[i]; k++)
	{
		const Override *o = &overrides.items[k];

		if ((o->surname && !at_head) || (size_t) o->key_len > n - i ||
			(best && best->key_len >= o->key_len))
			continue;
		if (memcmp(o->key, s + i, o->key_len * sizeof(uint32_t)) == 0)
			best = o;
	}
	return best;
}

/* Write the reading of the Han text at s[i]; returns characters consumed. */
static size_t
emit_han(Buffer *buf, const uint32_t *s, size_t i, size_t n, bool at_head)
{
	const Override *o = find_override(s, i, n, at_head);
	const char *reading;
	char		raw[4];

	if (o)
	{
		buffer_word(buf, o->reading, strlen(o->reading));
		return (size_t) o->key_len;
	}
	reading = crm_han_reading(s[i]);
	if (reading)
		buffer_word(buf, reading, strlen(reading));
	else						/* no reading: the character stands for itself */
		buffer_word(buf, raw, crm_utf8_put(s[i], raw));
	return 1;
}

/* Write the run of letters and digits at s[i]; returns its length. */
static size_t
emit_word(Buffer *buf, const uint32_t *s, size_t i, size_t n)
{
	size_t		end = i;
	char	   *word;

	while (end < n && crm_is_alnum(s[end]))
		end++;
	word = crm_encode_utf8(s + i, end - i);
	buffer_word(buf, word, strlen(word));
	crm_free(word);
	return end - i;
}

char *
crm_pinyin(const char *s, size_t len)
{
	size_t		n;
	uint32_t   *cps = crm_fold_text(s, len, &n);
	Buffer		buf = {NULL, 0, 0};
	bool		at_head = true;

	if (!cps)
		return NULL;
	for (size_t i = 0; i < n && !crm_core_error;)
	{
		if (crm_is_han(cps[i]))
			i += emit_han(&buf, cps, i, n, at_head);
		else if (crm_is_alnum(cps[i]))
			i += emit_word(&buf, cps, i, n);
		else
		{
			i++;
			continue;
		}
		at_head = false;
	}
	crm_free(cps);
	if (buf.len == 0 || crm_core_error)
	{
		if (buf.data)
			crm_free(buf.data);
		return NULL;
	}
	return buf.data;
}

/* Syllables of [a-z] separated by single spaces; returns how many. */
static int
count_syllables(const char *reading)
{
	int			count = 0;
	bool		in_word = false;

	for (const char *p = reading; *p; p++)
	{
		if (*p >= 'a' && *p <= 'z')
		{
			count += in_word ? 0 : 1;
			in_word = true;
		}
		else if (*p == ' ' && in_word && p[1] != '\0')
			in_word = false;
		else
			return -1;
	}
	return count;
}

static char *
strdup_len(const char *s, size_t len)
{
	char	   *copy = malloc(len + 1);

	if (copy)
	{
		memcpy(copy, s, len);
		copy[len] = '\0';
	}
	return copy;
}

static const char *
parse_key(const char *key, Override *o)
{
	size_t		n;
	uint32_t   *cps = crm_fold_text(key, strlen(key), &n);
	const char *err = NULL;

	if (!cps)
		return "key is not valid UTF-8";
	if (n == 0 || n > MAX_KEY_CHARS)
		err = "key must be 1 to 8 Han characters";
	for (size_t i = 0; !err && i < n; i++)
		if (!crm_is_han(cps[i]))
			err = "key must be 1 to 8 Han characters";
	if (!err)
	{
		memcpy(o->key, cps, n * sizeof(uint32_t));
		o->key_len = (int) n;
	}
	crm_free(cps);
	return err;
}

/* Parse one non-comment line into o; returns NULL or the reason it fails. */
static const char *
parse_override(char *line, Override *o)
{
	char	   *save;
	char	   *key = strtok_r(line, "\t", &save);
	char	   *reading = strtok_r(NULL, "\t", &save);
	char	   *scope = strtok_r(NULL, "\t\r", &save);
	const char *err;

	if (!key || !reading || !scope || strtok_r(NULL, "\t\r", &save))
		return "expected three tab-separated fields: key, reading, scope";
	if (strcmp(scope, "surname") != 0 && strcmp(scope, "phrase") != 0)
		return "scope must be \"surname\" or \"phrase\"";
	if ((err = parse_key(key, o)) != NULL)
		return err;
	if (count_syllables(reading) != o->key_len)
		return "reading must be one lower-case toneless syllable per key character";
	o->surname = (scope[0] == 's');
	o->key_text = strdup_len(key, strlen(key));
	o->reading = strdup_len(reading, strlen(reading));
	return (o->key_text && o->reading) ? NULL : "out of memory";
}

static int
compare_overrides(const void *a, const void *b)
{
	const Override *x = a;
	const Override *y = b;

	return (x->key[0] > y->key[0]) - (x->key[0] < y->key[0]);
}

static void
free_table(OverrideTable *t)
{
	for (int i = 0; i < t->n; i++)
	{
		free(t->items[i].key_text);
		free(t->items[i].reading);
	}
	free(t->items);
	t->items = NULL;
	t->n = 0;
}

static bool
is_blank_or_comment(const char *line)
{
	while (*line == ' ' || *line == '\t' || *line == '\r')
		line++;
	return *line == '\0' || *line == '#';
}

/* Parse every line of text into t; on failure returns the reason. */
static const char *
parse_table(char *text, OverrideTable *t, int *lineno)
{
	int			cap = 0;
	char	   *next;

	*lineno = 0;
	for (char *line = text; line; line = next)
	{
		const char *err;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		(*lineno)++;
		if (is_blank_or_comment(line))
			continue;
		if (t->n == cap)
		{
			Override   *bigger = realloc(t->items, (cap = cap * 2 + 64) * sizeof(Override));

			if (!bigger)
				return "out of memory";
			t->items = bigger;
		}
		memset(&t->items[t->n], 0, sizeof(Override));
		err = parse_override(line, &t->items[t->n]);
		t->n++;
		if (err)
			return err;
	}
	return NULL;
}

bool
crm_pinyin_load_overrides(const char *text, size_t len, char *errbuf, size_t errlen)
{
	OverrideTable fresh = {NULL, 0};
	char	   *copy = strdup_len(text, len);
	const char *err = copy ? NULL : "out of memory";
	int			lineno = 0;

	if (copy)
		err = parse_table(copy, &fresh, &lineno);
	free(copy);
	if (err)
	{
		snprintf(errbuf, errlen, "line %d: %s", lineno, err);
		free_table(&fresh);
		return false;
	}
	qsort(fresh.items, fresh.n, sizeof(Override), compare_overrides);
	free_table(&overrides);
	overrides = fresh;
	return true;
}

int
crm_pinyin_override_count(void)
{
	return overrides.n;
}

void
crm_pinyin_override_get(int i, const char **key, const char **reading, bool *surname)
{
	*key = overrides.items[i].key_text;
	*reading = overrides.items[i].reading;
	*surname = overrides.items[i].surname;
}
