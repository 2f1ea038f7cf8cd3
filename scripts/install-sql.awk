# scripts/install-sql.awk: builds crm's install and upgrade scripts from the
# area files install/*.sql (see install/README.md).  One source, two outputs:
#
#   awk -v mode=full    -v version=1.1 -f scripts/install-sql.awk install/*.sql
#       crm--1.1.sql: every line, without the "-- @upgrade" blocks;
#   awk -v mode=upgrade -v version=1.1 -f scripts/install-sql.awk install/*.sql
#       crm--1.0--1.1.sql: only the "-- @since 1.1" and "-- @upgrade 1.1"
#       blocks, in the order they come.
#
# A block starts at a line "-- @since V" or "-- @upgrade V" and ends at the
# line "-- @end"; blocks do not nest.  Marker lines are not copied.
BEGIN {
    if (mode != "full" && mode != "upgrade") fail("mode must be full or upgrade")
    if (version == "") fail("version is not set")
    block = ""
}
function fail(msg) { print "install-sql.awk: " msg > "/dev/stderr"; failed = 1; exit 1 }
function where() { return FILENAME ":" FNR }
/^-- @(since|upgrade) / {
    if (block != "") fail(where() ": a block starts inside the block opened at " opened)
    if (NF != 3) fail(where() ": write \"-- @since VERSION\" or \"-- @upgrade VERSION\"")
    block = substr($2, 2); block_version = $3; opened = where()
    if (block_version != version)
        fail(where() ": block for version " block_version " while building " version \
             " (blocks of a released version are removed when it is frozen)")
    next
}
/^-- @end$/ {
    if (block == "") fail(where() ": @end without a block")
    block = ""
    next
}
/^-- @/ { fail(where() ": unknown marker " $0) }
FNR == 1 && NR > 1 && block != "" { fail(opened ": block not closed by -- @end") }
{
    if (mode == "full" && block != "upgrade") print
    else if (mode == "upgrade" && block != "") print
}
END {
    if (!failed && block != "") fail(opened ": block not closed by -- @end")
}
