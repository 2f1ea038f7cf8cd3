------------------------------------------------------------------------------
-- Review, merge and unmerge
------------------------------------------------------------------------------

CREATE FUNCTION crm.merge_lead(lead_id bigint, contact_id bigint) RETURNS void
    AS 'MODULE_PATHNAME', 'crm_merge_lead'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION crm.merge_lead(bigint, bigint) IS
'Attaches a lead to a contact and merges it as ingestion would: empty fields filled, new phones and e-mails added, confirmed values untouched, history kept';

-- A lead about to be changed by a reviewer's decision, or why it cannot be.
CREATE FUNCTION crm.lock_lead(lead_id bigint) RETURNS crm.lead
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l crm.lead;
BEGIN
    SELECT * INTO l FROM crm.lead WHERE id = lead_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'lead % does not exist', lead_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN l;
END
$$;
COMMENT ON FUNCTION crm.lock_lead(bigint) IS
'Locks a lead for a reviewer''s change (split, placing it on an organisation), or says it does not exist';

-- A new contact for a lead that was attached to the wrong one.
CREATE FUNCTION crm.split_lead(lead_id bigint) RETURNS bigint
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l crm.lead;
    new_id bigint;
BEGIN
    l := crm.lock_lead(lead_id);
    INSERT INTO crm.contact (account_id, name, title, wechat_openid, owner)
    VALUES (l.account_id,
            CASE WHEN crm.norm_person_name(l.person_name) IS NOT NULL THEN l.person_name END,
            l.title,
            CASE WHEN NOT EXISTS (SELECT 1 FROM crm.contact k
                                   WHERE k.wechat_openid = l.wechat_openid AND k.merged_into IS NULL)
                 THEN l.wechat_openid END,
            (SELECT a.owner FROM crm.account a WHERE a.id = l.account_id))
    RETURNING id INTO new_id;
    INSERT INTO crm.contact_point (contact_id, kind, value, is_primary)
    SELECT new_id, v.kind, v.value, true
      FROM (VALUES ('phone', l.phone), ('email', l.email)) v(kind, value)
     WHERE v.value IS NOT NULL;
    UPDATE crm.lead SET contact_id = new_id, outcome = 'new' WHERE id = lead_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION crm.split_lead(bigint) IS
'Gives a lead a new contact of its own (its phone and e-mail, its organisation) and returns it';

-- The dropped record's code resolves to the kept one's; the history says what moved.
CREATE FUNCTION crm.record_merge(entity text, keep bigint, drop bigint, changes jsonb, moved jsonb)
    RETURNS bigint
    LANGUAGE sql STRICT
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT crm.record_code_merge(entity, drop);
    INSERT INTO crm.merge_history (entity, kept_id, dropped_id, changes, moved)
    VALUES (entity, keep, drop, changes, moved)
    RETURNING id;
END;
COMMENT ON FUNCTION crm.record_merge(text, bigint, bigint, jsonb, jsonb) IS
'The end of every record merge: the dropped code resolves to the kept one, and crm.merge_history gets the row crm.unmerge() reads';

CREATE FUNCTION crm.merge_contacts(keep bigint, drop bigint) RETURNS bigint
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k crm.contact;
    d crm.contact;
    changes jsonb := '[]';
    points bigint[];
    leads bigint[];
BEGIN
    PERFORM crm.lock_for_merge('contact', keep, drop);
    SELECT * INTO k FROM crm.contact WHERE id = keep;
    SELECT * INTO d FROM crm.contact WHERE id = drop;
    -- the dropped contact leaves the live set first: its openid is unique there
    UPDATE crm.contact SET merged_into = keep WHERE id = drop;
    IF k.name IS NULL AND d.name IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'name', 'old', NULL, 'new', d.name);
    END IF;
    IF k.title IS NULL AND d.title IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'title', 'old', NULL, 'new', d.title);
    END IF;
    IF k.account_id IS NULL AND d.account_id IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'account_id', 'old', NULL, 'new', d.account_id);
    END IF;
    IF k.wechat_openid IS NULL AND d.wechat_openid IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'wechat_openid', 'old', NULL, 'new', d.wechat_openid);
    END IF;
    UPDATE crm.contact
       SET name = coalesce(name, d.name), title = coalesce(title, d.title),
           account_id = coalesce(account_id, d.account_id),
           wechat_openid = coalesce(wechat_openid, d.wechat_openid)
     WHERE id = keep;
    -- points the kept contact lacks move over, never as its primary
    WITH moved AS (
        UPDATE crm.contact_point p SET contact_id = keep, is_primary = false
         WHERE p.contact_id = drop
           AND NOT EXISTS (SELECT 1 FROM crm.contact_point q
                            WHERE q.contact_id = keep AND q.kind = p.kind AND q.value = p.value)
        RETURNING p.id)
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO points FROM moved;
    WITH moved AS (UPDATE crm.lead l SET contact_id = keep WHERE l.contact_id = drop RETURNING l.id)
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO leads FROM moved;
    RETURN crm.record_merge('contact', keep, drop, changes,
                            jsonb_build_object('contact_point', to_jsonb(points), 'lead', to_jsonb(leads)));
END
$$;
COMMENT ON FUNCTION crm.merge_contacts(bigint, bigint) IS
'Merges contact drop into contact keep: empty fields filled, phones, e-mails and leads moved, drop''s code resolving to keep''s; returns the crm.merge_history id that crm.unmerge() takes';

CREATE FUNCTION crm.merge_accounts(keep bigint, drop bigint) RETURNS bigint
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k crm.account;
    d crm.account;
    changes jsonb := '[]';
    contacts bigint[];
    leads bigint[];
BEGIN
    PERFORM crm.lock_for_merge('account', keep, drop);
    SELECT * INTO k FROM crm.account WHERE id = keep;
    SELECT * INTO d FROM crm.account WHERE id = drop;
    IF k.uscc IS NOT NULL AND d.uscc IS NOT NULL THEN
        RAISE EXCEPTION 'accounts % and % have different credit codes', keep, drop
            USING ERRCODE = 'integrity_constraint_violation',
                  DETAIL = pg_catalog.format('%s and %s are two legal entities.', k.uscc, d.uscc);
    END IF;
    -- the credit code is unique: it leaves the dropped account before it moves
    UPDATE crm.account SET merged_into = keep, uscc = NULL WHERE id = drop;
    IF k.uscc IS NULL AND d.uscc IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'uscc', 'old', NULL, 'new', d.uscc);
    END IF;
    IF k.region_code IS NULL AND d.region_code IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'region_code', 'old', NULL, 'new', d.region_code);
    END IF;
    IF k.owner IS NULL AND d.owner IS NOT NULL THEN
        changes := changes || jsonb_build_object('field', 'owner', 'old', NULL, 'new', d.owner);
    END IF;
    UPDATE crm.account
       SET uscc = coalesce(uscc, d.uscc), region_code = coalesce(region_code, d.region_code),
           owner = coalesce(owner, d.owner)
     WHERE id = keep;
    WITH moved AS (UPDATE crm.contact c SET account_id = keep WHERE c.account_id = drop RETURNING c.id)
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO contacts FROM moved;
    WITH moved AS (UPDATE crm.lead l SET account_id = keep WHERE l.account_id = drop RETURNING l.id)
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO leads FROM moved;
    RETURN crm.record_merge('account', keep, drop, changes,
                            jsonb_build_object('contact', to_jsonb(contacts), 'lead', to_jsonb(leads),
                                               'uscc', d.uscc));
END
$$;
COMMENT ON FUNCTION crm.merge_accounts(bigint, bigint) IS
'Merges account drop into account keep: empty fields filled (the credit code too), contacts and leads moved, drop''s code resolving to keep''s; returns the crm.merge_history id';

-- Both records exist, are live and distinct; locked in id order.
CREATE FUNCTION crm.lock_for_merge(entity text, keep bigint, drop bigint) RETURNS void
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    live bigint[];
    merged bigint[];
BEGIN
    IF keep = drop THEN
        RAISE EXCEPTION 'cannot merge % % into itself', entity, keep USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT array_agg(id ORDER BY id) FILTER (WHERE merged_into IS NULL),
                array_agg(id ORDER BY id) FILTER (WHERE merged_into IS NOT NULL)
           FROM (SELECT id, merged_into FROM crm.%I WHERE id IN ($1, $2) ORDER BY id FOR UPDATE) t',
        entity)
      INTO live, merged USING keep, drop;
    IF merged IS NOT NULL THEN
        RAISE EXCEPTION '% % was already merged', entity, merged[1]
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'crm.resolve_code() gives the record it lives on in.';
    END IF;
    IF coalesce(pg_catalog.cardinality(live), 0) < 2 THEN
        RAISE EXCEPTION '% % does not exist', entity,
                        CASE WHEN keep = ANY (coalesce(live, '{}')) THEN drop ELSE keep END
            USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.lock_for_merge(text, bigint, bigint) IS
'Locks two records about to be merged, in id order, after checking both exist, are live and differ';

CREATE FUNCTION crm.unmerge(merge_id bigint) RETURNS void
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h crm.merge_history;
    c jsonb;
BEGIN
    SELECT * INTO h FROM crm.merge_history WHERE id = merge_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'merge % does not exist', merge_id USING ERRCODE = 'no_data_found';
    ELSIF h.undone_at IS NOT NULL THEN
        RAISE EXCEPTION 'merge % was already undone', merge_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Undone at %s.', h.undone_at);
    END IF;
    -- fields the merge set go back, unless someone has changed them since
    FOR c IN SELECT * FROM jsonb_array_elements(h.changes) LOOP
        EXECUTE pg_catalog.format('UPDATE crm.%I SET %I = $1 WHERE id = $2 AND %I::text = $3',
                                  h.entity, c->>'field', c->>'field')
          USING c->>'old', h.kept_id, c->>'new';
    END LOOP;
    IF h.entity = 'contact' AND h.dropped_id IS NULL THEN
        -- a lead merged into a contact: its additions go, the lead gets its own contact
        DELETE FROM crm.contact_point p
         WHERE p.id IN (SELECT jsonb_array_elements_text(h.moved->'contact_point')::bigint)
           AND p.contact_id = h.kept_id AND NOT p.verified;
        PERFORM crm.split_lead(h.lead_id);
    ELSIF h.entity = 'contact' THEN
        UPDATE crm.contact SET merged_into = NULL WHERE id = h.dropped_id;
        UPDATE crm.contact_point SET contact_id = h.dropped_id
         WHERE id IN (SELECT jsonb_array_elements_text(h.moved->'contact_point')::bigint)
           AND contact_id = h.kept_id;
        UPDATE crm.lead SET contact_id = h.dropped_id
         WHERE id IN (SELECT jsonb_array_elements_text(h.moved->'lead')::bigint)
           AND contact_id = h.kept_id;
        PERFORM crm.record_code_merge('contact', h.dropped_id);
    ELSE
        UPDATE crm.account SET merged_into = NULL, uscc = h.moved->>'uscc' WHERE id = h.dropped_id;
        UPDATE crm.contact SET account_id = h.dropped_id
         WHERE id IN (SELECT jsonb_array_elements_text(h.moved->'contact')::bigint)
           AND account_id = h.kept_id;
        UPDATE crm.lead SET account_id = h.dropped_id
         WHERE id IN (SELECT jsonb_array_elements_text(h.moved->'lead')::bigint)
           AND account_id = h.kept_id;
        PERFORM crm.record_code_merge('account', h.dropped_id);
    END IF;
    UPDATE crm.merge_history SET undone_at = now(), undone_by = crm.current_actor() WHERE id = merge_id;
END
$$;
COMMENT ON FUNCTION crm.unmerge(bigint) IS
'Undoes a merge from crm.merge_history: moved rows go back, filled fields are emptied again unless changed since, codes resolve to themselves again; a lead merged into a contact gets a contact of its own';

-- A lead and its contact go on an organisation a reviewer chose.
CREATE FUNCTION crm.place_lead(lead_id bigint, account_id bigint) RETURNS bigint
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l crm.lead;
    k crm.contact;
    target bigint;
BEGIN
    l := crm.lock_lead(lead_id);
    -- the organisation may have been merged since it was offered: its code
    -- resolves to the survivor's
    SELECT s.id INTO target
      FROM crm.account a JOIN crm.account s ON s.code = crm.resolve_code(a.code)
     WHERE a.id = place_lead.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO k FROM crm.contact WHERE id = l.contact_id FOR UPDATE;
    IF coalesce(k.account_id, target) <> target OR coalesce(l.account_id, target) <> target THEN
        RAISE EXCEPTION 'lead % already has an organisation', lead_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('The lead is on account %s and its contact %s on account %s.',
                                             coalesce(l.account_id::text, 'none'), k.id,
                                             coalesce(k.account_id::text, 'none')),
                  HINT = 'Someone placed it since the review was queued: reject the review, or merge the accounts.';
    END IF;
    UPDATE crm.contact c
       SET account_id = target,
           owner = coalesce(c.owner, (SELECT a.owner FROM crm.account a WHERE a.id = target))
     WHERE c.id = k.id AND c.account_id IS NULL;
    UPDATE crm.lead SET account_id = target, account_outcome = 'matched'
     WHERE id = lead_id AND crm.lead.account_id IS NULL;
    RETURN target;
END
$$;
COMMENT ON FUNCTION crm.place_lead(bigint, bigint) IS
'Puts a lead that has no organisation, and its contact, on an account (following merges); returns the account. A lead or contact already on another account is refused';

-- What a lead's review offers, its candidate first: contacts or accounts.
CREATE FUNCTION crm.review_candidates(r crm.match_review) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT CASE WHEN r.lead_id IS NOT NULL
                THEN r.candidate_id || ARRAY(SELECT (a->>(r.entity || '_id'))::bigint
                                               FROM jsonb_array_elements(r.evidence->'alternatives') a)
           END;
END;
COMMENT ON FUNCTION crm.review_candidates(crm.match_review) IS
'The contacts or accounts a lead''s review offers, the candidate first; NULL for a review of two stored records';

CREATE FUNCTION crm.offered_accounts(r crm.match_review) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT CASE WHEN r.entity = 'account' THEN crm.review_candidates(r) END;
END;
COMMENT ON FUNCTION crm.offered_accounts(crm.match_review) IS
'The accounts a review of a lead''s organisation offers, the candidate first; NULL for any other review';

CREATE FUNCTION crm.review_accept(review_id bigint, contact_id bigint DEFAULT NULL,
                                  account_id bigint DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r crm.match_review;
BEGIN
    IF review_id IS NULL THEN
        RAISE EXCEPTION 'review_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    r := crm.take_review(review_id);
    IF r.lead_id IS NOT NULL AND r.entity = 'account' THEN
        IF contact_id IS NOT NULL THEN
            RAISE EXCEPTION 'review % asks which organisation a lead is, not which contact', review_id
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass account_id, or leave it out to accept the candidate.';
        END IF;
        r := crm.choose_review_candidate(r, account_id);
        PERFORM crm.place_lead(r.lead_id, r.candidate_id);
    ELSIF account_id IS NOT NULL THEN
        RAISE EXCEPTION 'review % asks which contact, not which organisation', review_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass contact_id: the lead takes the organisation of the contact it is merged into.';
    ELSIF r.lead_id IS NOT NULL THEN
        r := crm.choose_review_candidate(r, contact_id);
        PERFORM crm.merge_lead(r.lead_id, r.candidate_id);
    ELSIF contact_id IS NOT NULL THEN
        RAISE EXCEPTION 'review % is of two stored records', review_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A review of two stored records merges the pair it names.',
                  HINT = 'Leave contact_id out.';
    ELSIF r.entity = 'contact' THEN
        PERFORM crm.merge_contacts(r.candidate_id, r.other_id);
    ELSE
        PERFORM crm.merge_accounts(r.candidate_id, r.other_id);
    END IF;
    UPDATE crm.match_review SET status = 'accepted', decided_by = crm.current_actor(), decided_at = now()
     WHERE id = review_id;
END
$$;
COMMENT ON FUNCTION crm.review_accept(bigint, bigint, bigint) IS
'A reviewer''s yes. A lead''s contact review merges the lead into its candidate, or into contact_id, one of the alternatives; a lead''s account review puts the lead and its contact on the candidate organisation, or on account_id, one of the alternatives; a review of two stored records merges other_id into candidate_id';

-- The reviewer's choice among what the review offers, written into it.
CREATE FUNCTION crm.choose_review_candidate(r crm.match_review, chosen bigint)
    RETURNS crm.match_review
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    offered bigint[] := crm.review_candidates(r);
BEGIN
    IF chosen IS NULL OR chosen = r.candidate_id THEN
        RETURN r;
    END IF;
    IF NOT chosen = ANY (offered) THEN
        RAISE EXCEPTION '% % is not a candidate of review %', r.entity, chosen, r.id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Its candidates are %s.', pg_catalog.array_to_string(offered, ', ')),
                  HINT = pg_catalog.format('Leave %s_id out to accept the candidate the review names.', r.entity);
    END IF;
    UPDATE crm.match_review
       SET candidate_id = chosen,
           evidence = evidence || jsonb_build_object('provisional_candidate', r.candidate_id)
     WHERE id = r.id
    RETURNING * INTO r;
    RETURN r;
END
$$;
COMMENT ON FUNCTION crm.choose_review_candidate(crm.match_review, bigint) IS
'Makes a reviewer''s choice among what a lead''s review offers its candidate, keeping the first one as provisional_candidate; refuses an id it does not offer';

CREATE FUNCTION crm.review_reject(review_id bigint) RETURNS void
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r crm.match_review;
    other bigint;
BEGIN
    r := crm.take_review(review_id);
    IF r.lead_id IS NOT NULL AND r.entity = 'account' THEN
        SELECT coalesce(k.account_id, l.account_id) INTO other
          FROM crm.lead l LEFT JOIN crm.contact k ON k.id = l.contact_id WHERE l.id = r.lead_id;
        IF other IS NULL THEN
            -- none of them: the organisation is new, as if its name had found none
            INSERT INTO crm.account (name, uscc, region_code)
            SELECT l.company_name, l.uscc, l.region_code FROM crm.lead l WHERE l.id = r.lead_id
            RETURNING id INTO other;
            PERFORM crm.place_lead(r.lead_id, other);
            UPDATE crm.lead SET account_outcome = 'new' WHERE id = r.lead_id;
        ELSE
            -- someone placed the lead or its contact since: that is the answer
            PERFORM crm.place_lead(r.lead_id, other);
        END IF;
    ELSIF r.lead_id IS NOT NULL THEN
        other := crm.split_lead(r.lead_id);
        -- the two contacts may share the lead's phone or e-mail: a pair
        -- a person has already told apart
        INSERT INTO crm.match_review (entity, candidate_id, other_id, score, evidence, red,
                                      status, decided_by, decided_at)
        VALUES ('contact', least(r.candidate_id, other), greatest(r.candidate_id, other), r.score,
                r.evidence, r.red, 'rejected', crm.current_actor(), now())
        ON CONFLICT (entity, candidate_id, other_id) WHERE other_id IS NOT NULL DO NOTHING;
        -- a new person now: which of the organisations its company fits
        INSERT INTO crm.match_review (entity, lead_id, candidate_id, evidence)
        SELECT 'account', l.id, (r.evidence->'account_review'->'candidate'->>'account_id')::bigint,
               r.evidence->'account_review'
          FROM crm.lead l
         WHERE l.id = r.lead_id AND l.account_id IS NULL AND r.evidence ? 'account_review';
    END IF;
    UPDATE crm.match_review SET status = 'rejected', decided_by = crm.current_actor(), decided_at = now()
     WHERE id = review_id;
END
$$;
COMMENT ON FUNCTION crm.review_reject(bigint) IS
'A reviewer''s no. A lead''s contact review: the lead gets a contact of its own, and the pair is never proposed again; if its company name fits several organisations, an account review of them opens. A lead''s account review: none of the organisations offered is the lead''s, so a new account is made from its company name, region and credit code, and the lead and its contact go on it; if someone has placed the lead or its contact since, both go there instead and nothing is made';

CREATE FUNCTION crm.take_review(review_id bigint) RETURNS crm.match_review
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r crm.match_review;
BEGIN
    SELECT * INTO r FROM crm.match_review WHERE id = review_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'review % does not exist', review_id USING ERRCODE = 'no_data_found';
    ELSIF r.status <> 'open' THEN
        RAISE EXCEPTION 'review % was already decided: %', review_id, r.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Decided by %s at %s.', r.decided_by, r.decided_at);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION crm.take_review(bigint) IS
'Locks an open review for a decision, or says why it cannot be decided';
