#!/bin/sh
# The web browser a notebook's `tab.open()` starts in the tests: headless Debian chromium on the
# page, with a fresh profile (and its log) in $GUNRTC_TABS (tests/lab/headless_tabs.py sets
# BROWSER="sh tests/lab/open_tab.sh %s &" and stops every chromium it finds recorded there).
set -eu
profile=$(mktemp -d "${GUNRTC_TABS:?}/tab.XXXXXX")
echo $$ > "$profile/pid"
exec chromium --headless --no-sandbox --no-proxy-server --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" "$1" > "$profile/log" 2>&1
