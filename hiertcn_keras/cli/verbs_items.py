"""The item-embedding verb: `embed-items`."""

from __future__ import annotations

import textwrap

from hiertcn_keras.cli.common import formatter

ORDER = 30


def register(sub):
    """Adds this module's verbs to the subparsers `sub`."""
    _add_embed_items(sub)


def _add_embed_items(sub):
    p = sub.add_parser(
        "embed-items",
        help="train the PinSage-style item model and write a memory-mapped embedding store",
        formatter_class=formatter,
        description=textwrap.dedent(
            """\
            Build the item co-interaction graph of the training events, PinSage importance
            neighbourhoods (random walks with restart, top-T visits), train a two-layer
            importance-pooled GraphSAGE model on items engaged one after the other (shared
            negatives; max-margin or NCE), embed every item and write STORE_DIR atomically
            (embeddings.bin memory-mapped on open, ids.parquet, manifest.json with a checksum).
            Use the store with `hiertcn train --item-space pretrained --item-embeddings STORE_DIR`."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              hiertcn embed-items --data runs/default/prepared --out runs/default/items --dim 64 --epochs 5
              hiertcn embed-items --data prepared --out items --loss nce --content article_vectors.npy"""
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="prepared dataset folder")
    p.add_argument("--out", required=True, metavar="STORE_DIR", help="embedding store to write")
    p.add_argument("--dim", type=int, default=64, help="embedding size (default 64)")
    p.add_argument("--epochs", type=int, default=5, help="default 5")
    p.add_argument("--loss", choices=("max_margin", "nce"), default="max_margin", help="default max_margin")
    p.add_argument("--negatives", type=int, default=500, help="shared negatives per batch (default 500)")
    p.add_argument("--top-t", type=int, default=10, help="neighbours per item (default 10)")
    p.add_argument("--content", metavar="PATH", default=None,
                   help=".npy content features [n_items, C] (or [n_items-1, C]) in the dataset's item order")
    p.add_argument("--float16", action="store_true", help="store the matrix as float16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_embed_items)


def cmd_embed_items(args):
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.item_quality import next_item_quality
    from hiertcn_keras.training.item_training import ItemModelConfig, embed_items
    from hiertcn_keras.models.item_vectors import load_item_vectors

    dataset = PreparedDataset(args.data)
    content = load_item_vectors(args.content, dataset.n_items) if args.content else None
    config = ItemModelConfig(dim=args.dim, epochs=args.epochs, loss=args.loss, n_negatives=args.negatives,
                             top_t=args.top_t, seed=args.seed)
    matrix, report = embed_items(args.data, args.out, config, content=content, verbose=2 if args.quiet else 1,
                                 dtype="float16" if args.float16 else "float32")
    quality = next_item_quality(matrix, dataset.view("valid"), dataset.n_catalogue)
    print(f"graph: {report['graph']['edges']:,} edges over {report['graph']['nodes_with_edges']:,} items "
          f"({report['graph_seconds']:.1f} s); trained on {report['pairs']:,} pairs in {report['train_seconds']:.1f} s")
    print(f"next-item hit-rate@10 by nearest neighbour on the valid split: {quality['recall@10']:.4f} "
          f"(MRR {quality['mrr']:.4f}, {quality['n_events']:,} pairs)")
    print(f"store written to {args.out}")
