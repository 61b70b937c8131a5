#!/bin/sh
# run-asl --cmd handler for a machine whose fan-out lists five item keys: answers the
# s3:getObject states (the key count, then the key list); every other Task passes its input on.
case "$SFN_STATE" in
  *-count) echo '{"Body": "5"}' ;;
  *-list) echo '{"Body": "[\"north\", \"south\", \"east\", \"west\", \"central\"]"}' ;;
esac
