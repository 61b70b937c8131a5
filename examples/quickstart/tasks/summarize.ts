import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

/** Revenue and units per region, from the cleaned CSV. */
export function summarize(input: { config: { currency: string } }): { regions: number } {
  const [header, ...lines] = readFileSync("out/clean.csv", "utf8").trim().split(/\r?\n/);
  const cols = header!.split(",");
  const at = (name: string) => cols.indexOf(name);
  const totals = new Map<string, { units: number; revenue: number }>();
  for (const line of lines) {
    const cells = line.split(",");
    const region = cells[at("region")]!;
    const t = totals.get(region) ?? { units: 0, revenue: 0 };
    t.units += Number(cells[at("units")]);
    t.revenue += Number(cells[at("revenue")]);
    totals.set(region, t);
  }
  const regions = [...totals.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([region, t]) => ({ region, units: t.units, revenue: Math.round(t.revenue * 100) / 100 }));
  mkdirSync("out", { recursive: true });
  writeFileSync(
    "out/summary.json",
    `${JSON.stringify({ currency: input.config.currency, regions }, null, 2)}\n`,
  );
  return { regions: regions.length };
}
