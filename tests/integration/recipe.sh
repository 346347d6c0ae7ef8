#!/usr/bin/env bash
# `chum recipe import|list|show` through the real binary: built-ins listed, import writes
# <dir>/recipes/<Name>.json, re-import is idempotent, a bad file or a clash imports nothing,
# inheritFrom across imports, and the imported recipes load again in a later command.
. "$(dirname "$0")/lib/common.sh"
VEC=${CHUM_VECTORS_DIR:-$(dirname "$0")/../../../shared/vectors}
tmp_setup /tmp/chum-recipe-XXXXXX
D=$T/node

expect 2 "recipe without a command is a usage error" -- "$CHUM" recipe
expect 2 "unknown recipe command" -- "$CHUM" recipe frobnicate
expect 0 "recipe --help" -- "$CHUM" recipe --help
expect 0 "recipe import --help" -- "$CHUM" recipe import --help
expect 2 "import without FILE" -- "$CHUM" --dir "$D" recipe import
expect 0 "list without a node: built-ins" -- "$CHUM" --dir "$D" recipe list
has "core recipe listed" "Person" "$T/out"
has "one.models recipe listed" "Questionnaire_2_1_1" "$T/out"
expect 1 "import needs a node" -- "$CHUM" --dir "$D" recipe import "$VEC/objects/recipes.json"

expect 0 "init" -- "$CHUM" --dir "$D" init --email recipe@example.com
expect 0 "import recipes.json" -- "$CHUM" --dir "$D" recipe import "$VEC/objects/recipes.json"
has "17 added" "17 added, 0 already known" "$T/out"
if [ -f "$D/recipes/OneRef\$Inherit.json" ]; then ok "recipe file written"; else bad "recipe file written"; fi
expect 0 "re-import is idempotent" -- "$CHUM" --dir "$D" recipe import "$VEC/objects/recipes.json"
has "nothing new" "0 added, 17 already known" "$T/out"
expect 0 "one-models file: all known" -- "$CHUM" --dir "$D" recipe import "$VEC/recipes/one-models-14.1.json"
has "79 known" "0 added, 79 already known" "$T/out"
expect 0 "list --json" -- "$CHUM" --dir "$D" --json recipe list
has "imported recipe in JSON list" '"name":"OneRef$VMulti","versioned":true,"builtin":false' "$T/out"
expect 0 "show" -- "$CHUM" --dir "$D" recipe show 'OneRef$Inherit'
has "show prints inheritFrom" '"inheritFrom":{"rule":"OneRef$Coll.bag","extract":"CollectionItemType"}' "$T/out"

# inheritFrom to a recipe imported earlier (another file)
printf '[{"name":"MyApp$Tagged","rule":[{"itemprop":"tags","inheritFrom":"OneRef$Coll.bag"}]}]' >"$T/dep.json"
expect 0 "import with inheritFrom into an earlier import" -- "$CHUM" --dir "$D" recipe import "$T/dep.json"
n_before=$(ls "$D/recipes" | wc -l)
# a clash with a built-in, a bad regexp, bad JSON: nothing written
printf '[{"name":"Fresh1","rule":[]},{"name":"Person","rule":[{"itemprop":"x"}]}]' >"$T/clash.json"
expect 1 "clash with a built-in refused" -- "$CHUM" --dir "$D" recipe import "$T/clash.json"
has "clash explained" "already registered" "$T/err"
printf '[{"name":"Fresh2","rule":[{"itemprop":"x","itemtype":{"type":"string","regexp":"(a)\\\\1"}}]}]' >"$T/re.json"
expect 1 "unsupported regexp refused" -- "$CHUM" --dir "$D" recipe import "$T/re.json"
printf '[{"name":"Fresh3"' >"$T/trunc.json"
expect 1 "bad JSON refused" -- "$CHUM" --dir "$D" recipe import "$T/trunc.json"
printf '[{"name":"../../evil","rule":[]}]' >"$T/evil.json"
expect 1 "path in a recipe name refused" -- "$CHUM" --dir "$D" recipe import "$T/evil.json"
n_after=$(ls "$D/recipes" | wc -l)
if [ "$n_before" = "$n_after" ]; then ok "failed imports wrote nothing"; else bad "failed imports wrote files"; fi
# a broken file in the recipes directory is reported, not ignored
printf 'garbage' >"$D/recipes/Broken.json"
expect 1 "broken recipes file reported" -- "$CHUM" --dir "$D" recipe list
has "names the directory" "recipes" "$T/err"

finish
