"""Drop rows with missing or negative units and add a revenue column."""
import csv
import os


def clean(source: str, target: str) -> dict:
    kept, dropped = [], 0
    with open(source, newline="") as f:
        for row in csv.DictReader(f):
            units = row["units"].strip()
            if not units or int(units) < 0:
                dropped += 1
                continue
            row["revenue"] = f"{int(units) * float(row['unit_price']):.2f}"
            kept.append(row)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(kept[0].keys()))
        writer.writeheader()
        writer.writerows(kept)
    return {"rows": len(kept), "dropped": dropped}
