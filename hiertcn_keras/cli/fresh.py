"""Options and actions for fresh items: dated stores (`embed-items --until`) and rolling evaluation
(`evaluate --rolling`). The verbs live in `verbs_items` and `verbs_training`; this module keeps
their fresh-item parts in one place."""

from __future__ import annotations


def add_dated_options(p):
    """`embed-items` options for dated stores."""
    g = p.add_argument_group("dated stores (the daily or hourly job)")
    g.add_argument("--until", metavar="T", default=None,
                   help="use only the events strictly before T (2017-10-06, 2017-10-06T05, 2017-10-06T05:30 UTC, or "
                   "Unix seconds) for the graph and, without --model, for training; stamp the store with T")
    g.add_argument("--stores", metavar="DIR", default=None,
                   help="with --until: write the store to DIR/<T> (e.g. DIR/2017-10-06T00) and point DIR/LATEST at it "
                   "when it is the newest; an existing DIR/<T> is left alone (error)")


def content_features(args, dataset):
    """The item model's content matrix `[n_items, C]` from `--content` (.npy) or `--item-features` (a table)."""
    if args.content:
        from hiertcn_keras.models.item_vectors import load_item_vectors

        return load_item_vectors(args.content, dataset.n_items)
    from hiertcn_keras.data.item_features import describe, read_item_features

    categorical = None
    if args.item_features_categorical is not None:
        categorical = [c.strip() for c in args.item_features_categorical.split(",") if c.strip()]
    matrix, report = read_item_features(args.item_features, dataset.items["id"].astype(str).tolist(),
                                        id_column=args.item_features_id, categorical=categorical)
    print(describe(report))
    return matrix


def embed_dated(args, inputs):
    """`embed-items --until T [--stores DIR | --out STORE_DIR]`; `inputs` are never written over."""
    from hiertcn_keras.artifacts import output_guard
    from hiertcn_keras.artifacts.embedding_store import write_store
    from hiertcn_keras.artifacts.store_directory import StoreDirectory, parse_time
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.dated_items import embed_items_until
    from hiertcn_keras.training.item_config import ItemModelConfig

    if args.until is None:
        raise ValueError("--stores needs --until T (the time the store is stamped with)")
    if (args.stores is None) == (args.out is None):
        raise ValueError("with --until, give exactly one of --out STORE_DIR and --stores DIR")
    if args.shard is not None:
        raise ValueError("--shard cannot be combined with --until")
    until = parse_time(args.until)
    dataset = PreparedDataset(args.data)
    content = None
    if (args.content or args.item_features) and args.model is None:
        content = content_features(args, dataset)
    config = ItemModelConfig(dim=args.dim, epochs=args.epochs, loss=args.loss, temperature=args.temperature,
                             margin=args.margin, n_negatives=args.negatives, hard_negatives=args.hard_negatives,
                             top_t=args.top_t, seed=args.seed)
    directory = StoreDirectory(args.stores) if args.stores is not None else None
    out = directory.path_for(until) if directory is not None else args.out
    if directory is None:
        output_guard.check_output(out, "store", inputs=inputs, overwrite=args.overwrite)
    else:
        output_guard.check_not_input(directory.root, inputs, flag="--stores")
    if directory is not None and out.exists():
        raise FileExistsError(f"{out} exists: a store stamped {args.until} was already written (remove it to redo it)")
    matrix, report = embed_items_until(dataset, until, model_path=args.model, config=config, content=content,
                                       model_out=args.model_out, verbose=2 if args.quiet else 1)
    ids = [""] + dataset.items["id"].astype(str).tolist()
    write_store(out, matrix, ids, dtype="float16" if args.float16 else "float32", config=report,
                overwrite=directory is None)
    print(f"as of {report['until_iso']}: {report['n_events']:,} events, {report['n_seen']:,} items seen "
          f"({report['n_new']:,} embedded from their neighbourhood only); graph {report['graph']['edges']:,} edges "
          f"in {report['graph_seconds']:.1f} s, embedded in {report['embed_seconds']:.1f} s")
    if directory is not None:
        newest = directory.stores()[-1][1]
        if newest == out:
            directory.set_latest(out)
            print(f"store written to {out}; {directory.root}/LATEST points at it")
            return
        print(f"store written to {out}; LATEST left at {newest.name}, which is newer")
        return
    print(f"store written to {out}")


def add_rolling_options(p):
    """`evaluate` options for the rolling temporal evaluation."""
    g = p.add_argument_group("rolling evaluation (fresh items)")
    g.add_argument("--rolling", choices=("day", "hour"), default=None,
                   help="per test day/hour: the candidates are the items seen before it, the item vectors that "
                   "period's; coverage (scored / all targets) beside every metric")
    vectors = g.add_mutually_exclusive_group()
    vectors.add_argument("--stores", metavar="DIR", default=None,
                         help="with --rolling and a pretrained-space --run: each period uses the newest store of "
                         "DIR stamped at or before its start (written by `embed-items --until --stores`)")
    vectors.add_argument("--item-model", metavar="FILE.keras", default=None,
                         help="with --rolling and a pretrained-space --run: re-embed the catalogue at each period's "
                         "start with this item model (from `embed-items --model-out`)")
    g.add_argument("--recent-hours", type=float, default=24.0, metavar="N",
                   help="with --rolling --model pop: popularity over the last N hours before the period (default 24)")


def _store_vectors(dataset, root):
    from hiertcn_keras.artifacts.store_directory import StoreDirectory, store_until
    from hiertcn_keras.models.item_vectors import load_item_vectors

    directory = StoreDirectory(root)
    ids = dataset.items["id"].tolist()

    def vectors(start):
        try:
            until, path = directory.resolve(start)
        except LookupError as error:
            raise ValueError(str(error)) from None
        return load_item_vectors(path, dataset.n_items, ids), store_until(path), path.name

    return vectors


def _model_vectors(dataset, model_path):
    from hiertcn_keras.artifacts.store_directory import period_name
    from hiertcn_keras.training.dated_items import embed_items_until

    def vectors(start):
        matrix, _ = embed_items_until(dataset, start, model_path=model_path, verbose=0)
        return matrix, start, f"re-embedded@{period_name(start)}"

    return vectors


def evaluate_rolling(args):
    """`evaluate --rolling`: runs it and returns `True`, or `False` when --rolling is not given."""
    if args.rolling is None:
        if args.stores or args.item_model:
            raise ValueError("--stores and --item-model go with --rolling day|hour")
        return False
    from hiertcn_keras.artifacts import atomic
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training import rolling

    if args.averaging != "event":
        raise ValueError("--rolling reports event-averaged metrics only (--averaging event)")
    if getattr(args, "test_log", None) is not None or args.data is None:
        raise ValueError("--rolling evaluates a prepared dataset: give --data DIR (not --test-log)")
    dataset = PreparedDataset(args.data)
    if args.run is not None:
        from hiertcn_keras.training.trainer import load_run

        recommender, record = load_run(args.run)
        if record["data"]["fingerprint"] != dataset.fingerprint:
            raise ValueError(f"{args.run} was trained on data with fingerprint {record['data']['fingerprint']}, "
                             f"{args.data} has {dataset.fingerprint}")
        vectors = None
        if args.stores:
            vectors = _store_vectors(dataset, args.stores)
        elif args.item_model:
            vectors = _model_vectors(dataset, args.item_model)
        result = rolling.rolling_evaluate_recommender(recommender, dataset, args.rolling, split=args.split,
                                                      vectors=vectors, tie_policy=args.tie_policy)
        result["run"] = str(args.run)
    else:
        if args.stores or args.item_model:
            raise ValueError("--stores and --item-model go with --run (a neural model)")
        if args.model == "pop":
            fit, name = rolling.recent_popularity(args.recent_hours), f"pop (last {args.recent_hours:g} h)"
        elif args.model == "sknn":
            fit, name = rolling.session_knn(), "sknn"
        else:
            raise ValueError(f"--rolling supports the baselines pop and sknn, not {args.model}")
        result = rolling.rolling_evaluate_baseline(fit, dataset, args.rolling, split=args.split, name=name,
                                                   tie_policy=args.tie_policy)
    if args.out:
        atomic.write_json(args.out, result)
    print(rolling.format_rolling(result))
    return True
