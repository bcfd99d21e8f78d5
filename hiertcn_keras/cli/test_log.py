"""`evaluate --test-log`: a run scored on a held-out log of the user's own (its options and its scoring)."""

from __future__ import annotations

from hiertcn_keras.cli.log_options import add_bad_rows_option, add_column_options, add_format_option

def add_test_log_options(p):
    g = p.add_argument_group("held-out log (--test-log)")
    g.add_argument("--test-log", metavar="PATH", default=None,
                   help="score a run on this log of your own (read as `prepare` reads a log)")
    add_format_option(g)
    add_column_options(p, sessions=False)
    add_bad_rows_option(p)


def evaluate_test_log(args):
    """Metrics of `--run` on `--test-log`, with the held-out log's preparation report.

    Returns:
        dict: the metrics of `evaluate_recommender` plus `test_log` and `heldout` (counts,
        coverage).
    """
    import json
    from pathlib import Path

    from hiertcn_keras.artifacts.errors import DataError
    from hiertcn_keras.cli.log_options import load_log
    from hiertcn_keras.data import vocabulary
    from hiertcn_keras.data.heldout import prepare_heldout
    from hiertcn_keras.training.evaluate import evaluate_recommender
    from hiertcn_keras.training.trainer import load_run

    if args.run is None:
        raise ValueError("--test-log needs --run (a trained run)")
    recommender, record = load_run(args.run)
    data_dir = Path(args.data if args.data is not None else record["data"]["path"])
    config_path = data_dir / "config.json"
    if not config_path.is_file():
        raise DataError("the run's prepared dataset (its vocabulary and session settings) is not here; "
                        "pass its folder with --data", path=data_dir)
    data_config = json.loads(config_path.read_text())
    if data_config.get("fingerprint") != record["data"]["fingerprint"]:
        raise DataError(f"not the data {args.run} was trained on (fingerprint {data_config.get('fingerprint')!r}, "
                        f"the run's {record['data']['fingerprint']!r})", path=config_path)
    items = vocabulary.read_vocabulary(data_dir / "items.parquet")
    log = load_log(args.test_log, args)
    heldout = prepare_heldout(log.events, items["id"].astype(str).tolist(), int(data_config["n_catalogue"]),
                              data_config["prepare"])
    if heldout.report["scored"] == 0:
        raise DataError(f"no event to score ({json.dumps(heldout.report)})", path=args.test_log)
    metrics = evaluate_recommender(recommender, heldout, "test", tie_policy=args.tie_policy,
                                   averaging=args.averaging)
    metrics.update(test_log=str(args.test_log), heldout={**heldout.report, "loader_dropped": log.dropped})
    report = heldout.report
    print(f"held-out log: {report['scored']} scored of {report['events']} events, {report['users']} users; "
          f"{report['unknown_item_events']} events of unknown items removed "
          f"(coverage {report['coverage']:.1%}), {report['not_scored_outside_catalogue']} outside the catalogue")
    return metrics
