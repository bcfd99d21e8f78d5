"""Paper-style result tables from metrics dicts."""

from __future__ import annotations

COLUMNS = ("recall@1", "recall@5", "recall@10", "recall@20", "mrr", "mrp", "ndcg@10")


def format_table(results, columns=COLUMNS):
    """Render `[metrics dict, ...]` as a Markdown table, one row per model.

    Args:
        results: list of dicts with a `model` key and metric keys.
        columns: metric keys to show. MRP is lower-is-better; the others higher-is-better.

    Returns:
        str.
    """
    header = "| model | " + " | ".join(c + (" ↓" if c == "mrp" else "") for c in columns) + " | events |"
    lines = [header, "|" + "---|" * (len(columns) + 2)]
    for r in results:
        cells = " | ".join(f"{r[c]:.4f}" if isinstance(r.get(c), float) else "–" for c in columns)
        lines.append(f"| {r['model']} | {cells} | {r.get('n_events', '–')} |")
    first = results[0] if results else {}
    lines.append(
        f"\nprotocol {first.get('protocol', '?')}, split {first.get('split', '?')}, full catalogue, "
        f"ties {first.get('tie_policy', '?')}, averaging per {first.get('averaging', 'event')}"
    )
    return "\n".join(lines)
