#!/usr/bin/env node
// The CLI's entry point before bin/dagwright.cjs, kept for the links made to it: npx keeps its own
// links to a local checkout's bin, and would otherwise find none after an update. Same CLI.
import { createRequire } from "node:module";

createRequire(import.meta.url)("./dagwright.cjs");
