# bench/profile_summary.awk: where the backend's time goes during a bulk
# INSERT into crm.lead_inbox, from `perf script` output of a DWARF call-graph
# recording (bench/profile_run).
#
# Each sample is charged twice: to the step of the batch it fell in (the
# outermost of crm's own functions below, inlined ones included), and to the
# kind of work it was (the outermost PostgreSQL mechanism below that step).
# The only row-level after-triggers on this path are PostgreSQL's
# foreign-key checks; crm's own after-triggers are statement-level and run
# crm_ functions, which is how the two are told apart.

function step_of(fn) {
    if (fn in STEP) return STEP[fn]
    return ""
}

# Whether a crm_ function runs below frames[i], towards the leaf.
function crm_below(i,   j) {
    for (j = i - 1; j >= 1; j--)
        if (frames[j] ~ /^crm_/) return 1
    return 0
}

function kind_of(i,   fn) {
    fn = frames[i]
    if (fn == "AfterTriggerEndQuery")
        return crm_below(i) ? "crm after-statement triggers (assignment)" : "foreign-key checks (PostgreSQL, per row)"
    if (fn in KIND) return KIND[fn]
    return ""
}

function charge(   i, fn, s, k) {
    if (n == 0) return
    total++
    s = ""; k = ""
    # frames[1] is the leaf, frames[n] the outermost
    for (i = n; i >= 1; i--) {
        fn = frames[i]
        if (s == "") { s = step_of(fn); continue }
        if (k == "") k = kind_of(i)
    }
    if (s == "") s = "outside the batch (executor, statement start and end)"
    if (k == "") k = "executor and other work"
    by_step[s]++
    by_kind[k]++
}

BEGIN {
    STEP["prepare_row"] = "prepare: map the payload, normalise (ICU), pinyin"
    STEP["read_existing"] = "read: leads already stored (channel, external id)"
    STEP["read_accounts"] = "read: accounts by credit code and company key"
    STEP["read_candidates"] = "read: candidate contacts by phone, e-mail, name key"
    STEP["write_accounts"] = "write: new accounts (with their codes)"
    STEP["write_merges"] = "write: merges into existing contacts"
    STEP["write_contacts"] = "write: new contacts (with their codes)"
    STEP["write_points"] = "write: phones and e-mails"
    STEP["write_leads"] = "write: the leads (and their statement triggers)"
    STEP["write_outcomes"] = "write: review entries and merge histories"
    STEP["score"] = "score the leads"
    STEP["decide"] = "decide (scoring candidates)"
    KIND["crm_guard_customer_code"] = "customer-code guard trigger"
    KIND["ExecInsertIndexTuples"] = "index inserts"
    KIND["heap_insert"] = "heap inserts"
    KIND["heap_update"] = "heap updates"
    KIND["ExecComputeStoredGenerated"] = "generated key columns (normalisers)"
    KIND["ExecConstraints"] = "check constraints"
    KIND["crm_contact_point_before_write"] = "row triggers (normalisers)"
    KIND["crm_account_before_write"] = "row triggers (normalisers)"
    KIND["new_codes"] = "issuing customer codes"
    KIND["next_ids"] = "sequence values"
    KIND["crm_normalize_bytes"] = "normalisers (ICU)"
    KIND["crm_map_lead"] = "payload mapping"
    KIND["index_getnext_slot"] = "index lookups"
    KIND["standard_ExecutorStart"] = "executor start-up"
    KIND["jsonb_in"] = "JSON text parsing"
}

/^[^ \t]/ { charge(); n = 0; next }
/^[ \t]+[0-9a-f]+ / {
    fn = $2
    sub(/\+0x[0-9a-f]+$/, "", fn)
    if (fn == "[unknown]") next
    frames[++n] = fn
}
END {
    charge()
    printf "%d samples\n\nby step of the batch\n", total
    for (s in by_step) printf "  %5.1f%%  %s\n", 100 * by_step[s] / total, s | "sort -rn"
    close("sort -rn")
    printf "\nby kind of work\n"
    for (k in by_kind) printf "  %5.1f%%  %s\n", 100 * by_kind[k] / total, k | "sort -rn"
    close("sort -rn")
}
