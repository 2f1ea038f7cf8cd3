/*
 * wordlist.c: longest-match of word lists at either end of a string.
 */
#include "wordlist.h"

#include <stdlib.h>
#include <string.h>

#include "unicode.h"
#include "utf8.h"

static bool
compile(CrmWordList *wl)
{
	int			n = *wl->n_words;
	uint32_t  **cps;

	if (wl->cps)
		return true;
	wl->lens = calloc(n + 1, sizeof(size_t));
	cps = calloc(n + 1, sizeof(uint32_t *));
	for (int i = 0; cps && wl->lens && i < n; i++)
	{
		const char *w = wl->words[i];
		size_t		len = strlen(w);
		size_t		pos = 0;

		cps[i] = malloc(len * sizeof(uint32_t) + 1);
		if (!cps[i])
			goto oom;
		while (pos < len)
			cps[i][wl->lens[i]++] = crm_utf8_next(w, len, &pos);
	}
	if (!cps || !wl->lens)
		goto oom;
	wl->cps = cps;
	return true;

oom:
	/* the partial arrays leak; the process is out of memory anyway */
	crm_core_error = "out of memory compiling a word list";
	return false;
}

/* A match edge that is a Latin letter must not run on into another one. */
static bool
splits_word(uint32_t edge, uint32_t outside)
{
	return crm_is_alnum(edge) && (crm_is_alnum(outside) || crm_is_mark(outside));
}

/* Longest word of wl found at the end (at_end) or the start of s[0..n). */
static long
longest_match(CrmWordList *wl, const uint32_t *s, size_t n, bool at_end)
{
	long		best = 0;

	if (!compile(wl))
		return -1;
	for (int i = 0; i < *wl->n_words; i++)
	{
		size_t		len = wl->lens[i];
		const uint32_t *at;

		if (len > n || (long) len <= best)
			continue;
		at = at_end ? s + n - len : s;
		if (memcmp(at, wl->cps[i], len * sizeof(uint32_t)) != 0)
			continue;
		if (n > len && splits_word(at_end ? at[0] : at[len - 1],
								   at_end ? at[-1] : at[len]))
			continue;
		best = (long) len;
	}
	return best;
}

long
crm_wordlist_suffix(CrmWordList *wl, const uint32_t *s, size_t n)
{
	return longest_match(wl, s, n, true);
}

long
crm_wordlist_prefix(CrmWordList *wl, const uint32_t *s, size_t n)
{
	return longest_match(wl, s, n, false);
}
