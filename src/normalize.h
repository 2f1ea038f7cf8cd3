/*
 * normalize.h: SQL-callable normalisers and validators.
 */
#ifndef CRM_NORMALIZE_H
#define CRM_NORMALIZE_H

typedef char *(*CoreNormalizer) (const char *s, size_t len);

extern void crm_normalize_init(void);

/*
 * A core normaliser applied to bytes in C: its palloc'd key, or NULL when
 * the input is unusable; a core failure is raised as an error.
 */
extern char *crm_normalize_bytes(CoreNormalizer normalizer, const char *s, size_t len);

/* Raise an error if the last core call failed (ICU, memory), else return. */
extern void crm_raise_core_error(void);

#endif							/* CRM_NORMALIZE_H */
