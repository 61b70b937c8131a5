import { readFileSync, writeFileSync } from "node:fs";

/** Count, mean and maximum of the filtered values. */
export function stats(): { count: number } {
  const values = readFileSync("out/filtered.csv", "utf8")
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => Number(line.split(",")[1]));
  const count = values.length;
  const mean = count === 0 ? 0 : values.reduce((a, b) => a + b, 0) / count;
  writeFileSync(
    "out/stats.json",
    `${JSON.stringify({ count, mean, max: Math.max(...values) }, null, 2)}\n`,
  );
  return { count };
}
