#!/bin/sh
# Placeholder for the fetch step.
echo "fetch: done"
