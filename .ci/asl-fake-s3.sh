#!/bin/sh
# run-asl --cmd handler for a machine whose fan-out lists five item keys: answers the
# s3:getObject states (the listing's size: key count and bytes of the list as a JSON string,
# then the key list); every other Task passes its input on.
case "$SFN_STATE" in
  *-count) echo '{"Body": "{\"count\": 5, \"bytes\": 55}"}' ;;
  *-list) echo '{"Body": "[\"north\", \"south\", \"east\", \"west\", \"central\"]"}' ;;
esac
