/*
 * pinyin.h: the pinyin key of Han text, with reading overrides.
 */
#ifndef CRM_PINYIN_H
#define CRM_PINYIN_H

#include "core.h"

/*
 * Toneless lower-case syllables separated by single spaces: "张伟" gives
 * "zhang wei".  Runs of Latin letters and digits pass through as words;
 * other characters only separate words.  Readings come from ICU Han-Latin,
 * corrected by the override table.  NULL when no word is left.
 */
extern char *crm_pinyin(const char *s, size_t len);

/*
 * Replace the override table with the one in text (the contents of
 * crm_pinyin_overrides.tsv).  Each line is "key<TAB>reading<TAB>scope",
 * where scope is "surname" (the key is read so only at the head of the
 * text) or "phrase" (anywhere); '#' starts a comment.  On a bad line,
 * returns false, leaves the old table in place and writes the line
 * number and reason to errbuf.
 */
extern bool crm_pinyin_load_overrides(const char *text, size_t len,
									  char *errbuf, size_t errlen);

/* Number of loaded overrides, and entry i of them (for inspection). */
extern int	crm_pinyin_override_count(void);
extern void crm_pinyin_override_get(int i, const char **key,
									const char **reading, bool *surname);

#endif							/* CRM_PINYIN_H */
