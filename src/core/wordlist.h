/*
 * wordlist.h: fixed word lists (titles, legal forms, regions) matched at
 * the head or tail of a folded code point string.
 */
#ifndef CRM_WORDLIST_H
#define CRM_WORDLIST_H

#include "core.h"

typedef struct CrmWordList
{
	const char *const *words;	/* UTF-8, already folded (lower case) */
	const int  *n_words;
	/* compiled on first use, for the life of the process */
	uint32_t  **cps;
	size_t	   *lens;
} CrmWordList;

#define CRM_WORDLIST(list, count) {(list), &(count), NULL, NULL}

/*
 * Length of the longest word of wl that s[0..n) ends with (resp. starts
 * with); 0 when none does.  A word that meets the rest of the string with a
 * Latin letter or digit must not meet another one there, so "co" never
 * matches the end of "cisco" while "公司" matches the end of "海康公司".  -1 when the list could not be compiled (out of
 * memory), with crm_core_error set.
 */
extern long crm_wordlist_suffix(CrmWordList *wl, const uint32_t *s, size_t n);
extern long crm_wordlist_prefix(CrmWordList *wl, const uint32_t *s, size_t n);

#endif							/* CRM_WORDLIST_H */
