------------------------------------------------------------------------------
-- Diagnostics: the statements crm keeps planned for the session
------------------------------------------------------------------------------

CREATE FUNCTION crm.kept_plans(OUT plan text, OUT statement text, OUT relation regclass,
                               OUT access text, OUT index_condition text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'crm_kept_plans_sql'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.kept_plans() IS
'Every statement crm keeps planned in a session, with each table read by its plan (as crm plans it, whatever the tables hold): the access path and the index columns it is conditioned on; index_condition NULL means the whole table or index is read at each call';
