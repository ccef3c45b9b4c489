"""The demo network's training step on one device vs the batch split across
several (on a CPU: one CPU device per core, as `jaxvis train` does), measured
side by side. Each device count runs in its own process, because a CPU's
device count is fixed when JAX starts.

    python benchmarks/train_step.py [--model demo] [--batch 64] [--devices 1,2] [--steps 40]

Prints images per second of the jitted step alone (the same batch again and
again) and of the training loop's work (a fresh generated batch per step),
and each count's ratio to one device.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(__file__), "..")


def measure(model: str, batch: int, steps: int) -> tuple[float, float]:
    """(step-only images/s, with-generation images/s) on this process's devices."""
    from configs import demo_train
    from jaxvis import sharding
    from jaxvis.models.registry import get_model_def
    from jaxvis.train import trainer

    config = demo_train.get_config(model)
    definition = get_model_def(model)
    tx = trainer.optimizer(config, definition, total_steps=config.epochs * config.images_per_epoch // batch)
    step = trainer.make_train_step(definition, tx)
    mesh = sharding.local_mesh(divides=batch)
    state = trainer.initial_state(definition, tx, 0, mesh)

    def data(i):
        return trainer.training_batch(1, i, batch, definition.spec, mesh)

    fixed = data(0)
    state, loss, _ = step(state, *fixed)  # compiles
    loss.block_until_ready()
    rates = []
    for fresh in (False, True):
        t = time.perf_counter()
        for i in range(steps):
            state, loss, _ = step(state, *(data(i) if fresh else fixed))
        loss.block_until_ready()
        rates.append(steps * batch / (time.perf_counter() - t))
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--devices", default=f"1,{os.cpu_count() or 1}")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import jax

        jax.config.update("jax_num_cpu_devices", args.child)
        sys.path.insert(0, ROOT)
        print(*measure(args.model, args.batch, args.steps), jax.devices()[0].device_kind)
        return
    counts = sorted({1, *(int(d) for d in args.devices.split(","))})
    print(f"{args.model} training step, batch {args.batch}, {args.steps} steps per measurement; images/s")
    print("| devices | step only | with generation | ratio to 1 device (step / with generation) |")
    print("|---|---|---|---|")
    base = None
    for count in counts:
        out = subprocess.run([sys.executable, __file__, f"--child={count}", f"--model={args.model}",
                              f"--batch={args.batch}", f"--steps={args.steps}"],
                             capture_output=True, text=True, check=True).stdout.split()
        step_rate, loop_rate, kind = float(out[0]), float(out[1]), " ".join(out[2:])
        base = base or (step_rate, loop_rate)
        ratios = f"{step_rate / base[0]:.2f} / {loop_rate / base[1]:.2f}"
        print(f"| {count} | {step_rate:.1f} | {loop_rate:.1f} | {ratios} |")
    print(f"device: {kind}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
