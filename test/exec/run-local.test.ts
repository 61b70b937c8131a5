import { describeLocalRuns } from "./run-local-suite.js";

describeLocalRuns("the embedded SQLite store", () => ({}));
