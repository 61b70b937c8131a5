#!/bin/sh
# Placeholder for the clean step.
echo "clean: done"
