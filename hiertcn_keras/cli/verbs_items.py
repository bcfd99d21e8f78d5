"""The item-embedding verb: `embed-items`."""

from __future__ import annotations

import textwrap

from hiertcn_keras.cli.common import (add_overwrite, formatter, non_negative_float, non_negative_int, positive_float,
                                      positive_int)

ORDER = 30


def register(sub):
    """Adds this module's verbs to the subparsers `sub`."""
    _add_embed_items(sub)


def _add_embed_items(sub):
    from hiertcn_keras.training.item_config import ItemModelConfig

    defaults = ItemModelConfig()
    p = sub.add_parser(
        "embed-items",
        help="train the PinSage-style item model and write a memory-mapped embedding store",
        formatter_class=formatter,
        description=textwrap.dedent(
            """\
            Build the item co-interaction graph of the training events, PinSage importance
            neighbourhoods (random walks with restart, top-T visits), train a two-layer
            importance-pooled GraphSAGE model on items engaged one after the other (shared
            negatives, optional hard negatives with PinSage's curriculum), embed every item and
            write STORE_DIR atomically (embeddings.bin memory-mapped on open, ids.parquet,
            manifest.json with a checksum). Use the store with
            `hiertcn train --item-space pretrained --item-embeddings STORE_DIR`.

            At catalogue scale, train once with --model-out, then let many workers embed a
            shard each into one store with --model and --shard i/n; the store opens once every
            shard is written."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              hiertcn embed-items --data runs/default/prepared --out runs/default/items
              hiertcn embed-items --data prepared --out items --loss nce --content article_vectors.npy
              hiertcn embed-items --data prepared --out items --model-out item_model.keras
              hiertcn embed-items --data prepared --model item_model.keras --shard 3/8 --out /shared/items
              # the daily job: the same model over the graph of the events before each day
              hiertcn embed-items --data prepared --model item_model.keras --until 2017-10-06 --stores stores/"""
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="prepared dataset folder")
    p.add_argument("--out", metavar="STORE_DIR", default=None,
                   help="embedding store to write (or --stores DIR with --until)")
    add_overwrite(p, "embedding store")
    t = p.add_argument_group("training")
    t.add_argument("--dim", type=positive_int, default=defaults.dim, help=f"embedding size (default {defaults.dim})")
    t.add_argument("--epochs", type=positive_int, default=defaults.epochs, help=f"default {defaults.epochs}")
    t.add_argument("--loss", choices=("max_margin", "nce", "softmax"), default=defaults.loss,
                   help=f"default {defaults.loss}")
    t.add_argument("--temperature", type=positive_float, default=defaults.temperature, metavar="TAU",
                   help=f"score temperature of nce and softmax (default {defaults.temperature})")
    t.add_argument("--margin", type=non_negative_float, default=defaults.margin, help=f"max-margin Δ (default {defaults.margin})")
    t.add_argument("--negatives", type=positive_int, default=defaults.n_negatives,
                   help=f"shared negatives per batch (default {defaults.n_negatives})")
    t.add_argument("--hard-negatives", type=non_negative_int, default=defaults.hard_negatives, metavar="H",
                   help="most hard negatives per pair; the curriculum adds one per epoch from the second "
                   f"(default {defaults.hard_negatives})")
    t.add_argument("--top-t", type=positive_int, default=defaults.top_t, help=f"neighbours per item (default {defaults.top_t})")
    content = t.add_mutually_exclusive_group()
    content.add_argument("--content", metavar="PATH", default=None,
                         help=".npy content features [n_items, C] (or [n_items-1, C]) in the dataset's item order")
    content.add_argument("--item-features", metavar="FILE", default=None,
                         help="a table of item features (CSV/Parquet: item_id or article_id, then numeric and "
                         "categorical columns, e.g. Globo's articles_metadata.csv): one-hot categories and "
                         "standardised numbers become the item model's content features, so an item with few "
                         "or no clicks still gets a vector from what it is")
    t.add_argument("--item-features-categorical", metavar="COLS", default=None,
                   help="comma-separated categorical columns of --item-features (default: the columns that are "
                   "not numbers; name integer-coded categories such as category_id,publisher_id here)")
    t.add_argument("--item-features-id", metavar="COL", default=None,
                   help="the id column of --item-features (default: item_id, else article_id)")
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--model-out", metavar="FILE.keras", default=None, help="also save the trained item model")
    s = p.add_argument_group("embedding with a trained model")
    s.add_argument("--model", metavar="FILE.keras", default=None,
                   help="skip training: embed with this saved item model (from --model-out)")
    s.add_argument("--shard", metavar="I/N", default=None,
                   help="with --model: embed only shard I of N of the catalogue into the shared STORE_DIR")
    from hiertcn_keras.cli.fresh import add_dated_options

    add_dated_options(p)
    p.add_argument("--float16", action="store_true", help="store the matrix as float16")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_embed_items)


def cmd_embed_items(args):
    from hiertcn_keras.artifacts import output_guard

    inputs = [args.data, args.content, args.model, args.item_features]
    if args.model_out:
        output_guard.check_output_file(args.model_out, inputs=inputs, overwrite=True, flag="--model-out")
    if args.until is not None or args.stores is not None:
        from hiertcn_keras.cli.fresh import embed_dated

        return embed_dated(args, inputs)
    if args.out is None:
        raise ValueError("give --out STORE_DIR (or --until T with --stores DIR for a dated store)")
    if args.shard is not None or args.model is not None:
        output_guard.check_not_input(args.out, inputs)  # shards share the store folder by design
        return _embed_shard(args)
    output_guard.check_output(args.out, "store", inputs=inputs, overwrite=args.overwrite)
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.item_config import ItemModelConfig
    from hiertcn_keras.training.item_quality import next_item_quality
    from hiertcn_keras.training.item_training import embed_items

    dataset = PreparedDataset(args.data)
    from hiertcn_keras.cli.fresh import content_features

    content = content_features(args, dataset) if args.content or args.item_features else None
    config = ItemModelConfig(dim=args.dim, epochs=args.epochs, loss=args.loss, temperature=args.temperature,
                             margin=args.margin, n_negatives=args.negatives, hard_negatives=args.hard_negatives,
                             top_t=args.top_t, seed=args.seed)
    matrix, report = embed_items(args.data, args.out, config, content=content, verbose=2 if args.quiet else 1,
                                 dtype="float16" if args.float16 else "float32", model_out=args.model_out,
                                 overwrite=args.overwrite)
    quality = next_item_quality(matrix, dataset.view("valid"), dataset.n_catalogue)
    print(f"graph: {report['graph']['edges']:,} edges over {report['graph']['nodes_with_edges']:,} items "
          f"({report['graph_seconds']:.1f} s); trained on {report['pairs']:,} pairs in {report['train_seconds']:.1f} s")
    print(f"next-item hit-rate@10 by nearest neighbour on the valid split: {quality['recall@10']:.4f} "
          f"(MRR {quality['mrr']:.4f}, {quality['n_events']:,} pairs)")
    if args.model_out:
        print(f"item model saved to {args.model_out}")
    print(f"store written to {args.out}")


def _embed_shard(args):
    from hiertcn_keras.artifacts.store_shards import parse_shard
    from hiertcn_keras.training.item_training import embed_items_shard

    if args.model is None:
        raise ValueError("--shard needs --model FILE.keras: train once with --model-out, then embed shards with it")
    shard, n_shards = parse_shard(args.shard or "0/1")
    start, stop = embed_items_shard(args.data, args.model, args.out, shard, n_shards,
                                    dtype="float16" if args.float16 else "float32")
    print(f"shard {shard}/{n_shards}: rows [{start}, {stop}) written to {args.out}")
