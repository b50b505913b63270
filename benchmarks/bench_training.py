"""Speed of real training on CPU: what one training step and one whole run cost, and what a
table build costs per training.

    python benchmarks/bench_training.py [--cells 12] [--builder]

Prints tables; nothing is asserted.  Numbers depend on the load of the machine: run it on an
idle one (``uptime``) before quoting them.  Profile notes behind the embedded protocol
(``tabular_data/embedded/BUILD.md``): on tiny networks a step is dominated by per-op
overhead (about 7 ms for a 1-image step of the C=8, N=1 network), so fewer, larger batches
and a narrow network are what make the build fast; oneDNN convolutions beat the plain ones
(disabling mkldnn was 1.3-3x slower), channels-last gave nothing for eval, and stacking many
cells into one grouped-convolution network was measured slower on CPU, not faster.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _step_ms(channels: int, cells: int, size: int, batch: int, reps: int = 10) -> float:
    import torch

    from benchbench.nn import build_nb201, new_network

    cell = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
            "nor_conv_3x3~2|")
    g = torch.Generator().manual_seed(0)
    net = new_network(lambda a, num_classes: build_nb201(a, num_classes=num_classes,
                                                         channels=channels,
                                                         cells_per_stage=cells),
                      cell, num_classes=10, generator=g)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    x, y = torch.randn(batch, 3, size, size, generator=g), torch.randint(0, 10, (batch,),
                                                                        generator=g)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - t0) / reps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=12, help="cells per measurement")
    ap.add_argument("--builder", action="store_true",
                    help="also time the builder with 1 and 2 workers")
    a = ap.parse_args()
    import torch

    from benchbench.nn import Trainer, get_protocol, load_dataset
    from benchbench.spaces import NB201Space

    torch.set_num_threads(1)
    print("one SGD step, 1 thread (NB201 network, cell = NB201's best)")
    print(f"{'C':>3} {'N':>2} {'HxW':>5} {'batch':>5} {'ms/step':>8}")
    for c, n, s, b in [(4, 1, 8, 128), (8, 1, 8, 128), (4, 1, 8, 1), (16, 5, 8, 128),
                       (16, 5, 32, 256)]:
        print(f"{c:>3} {n:>2} {s:>2}x{s:<2} {b:>5} {_step_ms(c, n, s, b):>8.1f}")

    space = NB201Space()
    reps = np.unique(space.class_ids("functional"))
    cells = np.random.default_rng(0).choice(reps, a.cells, replace=False)
    data = load_dataset("digits")
    print(f"\nwhole runs of the 'digits' protocol on {a.cells} random class representatives")
    print(f"{'protocol':>28} {'train s':>8} {'eval s':>7} {'wall s':>7} {'valid %':>8}")
    per_run = None
    for label, cfg in [("digits (embedded)", get_protocol("digits")),
                       ("digits, C=8", get_protocol("digits", network={"channels": 8,
                                                                        "cells_per_stage": 1})),
                       ("digits, 512 images", get_protocol("digits", train_images=512))]:
        tr = Trainer(space, data, cfg)
        t0 = time.perf_counter()
        rs = [tr.train(int(c), 0) for c in cells]
        wall = (time.perf_counter() - t0) / len(rs)
        print(f"{label:>28} {np.mean([r.cost_s[-1] for r in rs]):>8.3f} "
              f"{np.mean([r.eval_s.sum() for r in rs]):>7.3f} {wall:>7.3f} "
              f"{np.mean([r.values['valid_acc'][-1] for r in rs]):>8.1f}")
        per_run = wall if per_run is None else per_run
    print(f"\nembedded build at this speed: 4,930 classes x 2 seeds x {per_run:.2f} s "
          f"= {4930 * 2 * per_run / 3600:.2f} core-hours ({4930 * per_run / 3600:.2f} h on "
          f"2 idle cores)")

    if a.builder:
        import tempfile

        from tabular_data import build_table

        print(f"\nbuilder, {a.cells} cells x 2 seeds")
        for w in (1, 2):
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                build_table(f"{d}/t.h5", cells=cells.tolist(), seeds=(0, 1), workers=w)
                dt = time.perf_counter() - t0
            print(f"  workers={w}: {dt:.1f} s ({dt / (2 * a.cells):.3f} s per training, "
                  f"incl. process start-up)")


if __name__ == "__main__":
    main()
