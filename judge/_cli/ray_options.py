"""Typer options for ``judge run --executor ray --address ADDR --shards N`` (no Ray import).

In ``judge run``::

    from judge._cli.ray_options import AddressOpt, ExecutorOpt, ShardsOpt

    def run(config: str, ..., executor: str | None = ExecutorOpt, address: str | None = AddressOpt,
            shards: int | None = ShardsOpt):
        from judge.executors.options import apply_executor_overrides
        cfg = apply_executor_overrides(load_config(config), executor, address, shards)
"""

from __future__ import annotations

import typer

# `\\[`: typer renders help with rich markup, which would read "[ray]" as a tag and drop it.
ExecutorOpt = typer.Option(None, "--executor", help="Where generate/score run: local, "
                                                    "processes (worker processes on this "
                                                    "machine) or ray (pip install "
                                                    "'judge\\[ray]').")
AddressOpt = typer.Option(None, "--address", help="Ray cluster address ('auto' joins the "
                                                  "cluster on this node; default starts one).")
ShardsOpt = typer.Option(None, "--shards", help="Shards per stage on Ray (by record-id hash).")
WorkersOpt = typer.Option(None, "--workers", help="Worker processes for --executor processes "
                                                  "(default: twice the CPUs, at most 16).")
