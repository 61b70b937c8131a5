import csv
import os


def extract(threshold: int) -> int:
    """Keep the rows whose value is at least `threshold` (from config); return how many."""
    with open("data/measurements.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if float(r["value"]) >= threshold]
    os.makedirs("out", exist_ok=True)
    with open("out/filtered.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["sensor", "value"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
