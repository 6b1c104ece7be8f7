#!/bin/sh
# The settings layer's rules, checked on the source (issue 16): the library names settings,
# never command-line flags; io reads and writes files without knowing what a run is; settings
# sits below io, data, model and ops and includes none of them.
# Usage: settings_layering.sh SOURCE_ROOT
set -u
root="$1"
status=0
fail() {
    echo "settings_layering: $1" >&2
    status=1
}
flags=$(grep -rHnoE '"[^"]*--[a-z][a-z-]*' "$root/src")
[ -z "$flags" ] || fail "string literals in src/ name command-line flags:
$flags"
io=$(grep -HnE '#include "(train|infer)/|#include "settings/run_config\.h"' "$root"/src/io/*.c "$root"/src/io/*.h)
[ -z "$io" ] || fail "src/io includes what knows runs:
$io"
settings=$(grep -HnE '#include "(io|data|model|ops|train|infer)/' "$root"/src/settings/*)
[ -z "$settings" ] || fail "src/settings includes a layer above it:
$settings"
exit $status
