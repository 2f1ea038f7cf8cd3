/*
 * pinyin_overrides.h: loading the pinyin override table in the backend.
 */
#ifndef CRM_PINYIN_OVERRIDES_H
#define CRM_PINYIN_OVERRIDES_H

/* Load SHAREDIR/extension/crm_pinyin_overrides.tsv once per backend. */
extern void crm_pinyin_overrides_ensure_loaded(void);

#endif							/* CRM_PINYIN_OVERRIDES_H */
