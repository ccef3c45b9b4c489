"""``jaxvis <command> [--flags]``: dispatches to one command module, which
defines its own absl flags (only that module is imported, so commands never
clash over flag names)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "inspect": ("jaxvis.cli.inspect_cmd", "print a model's layer table (shapes, receptive fields, parameters)"),
    "convert": ("jaxvis.cli.convert_cmd", "convert Caffe or PyTorch weights to a jaxvis model directory"),
    "train": ("jaxvis.cli.train_cmd", "train a demo network on the generated shapes world (resumable)"),
    "visualize": ("jaxvis.cli.visualize_cmd", "optimized images for every unit of chosen layers, with a gallery"),
    "topk": ("jaxvis.cli.topk_cmd", "top-k images of every unit with receptive-field patches and deconvolutions"),
    "occlusion": ("jaxvis.cli.occlusion_cmd", "occlusion sensitivity maps and the pointing game"),
    "invariance": ("jaxvis.cli.invariance_cmd", "feature distances under translation, scale and rotation"),
    "correspondence": ("jaxvis.cli.correspondence_cmd", "Zeiler & Fergus's part correspondence (Table 1)"),
    "evolution": ("jaxvis.cli.evolution_cmd", "feature evolution across training checkpoints, conv1 filters"),
    "dictionary": ("jaxvis.cli.dictionary_cmd", "learn a sparse dictionary on a layer, then visualize its features"),
    "search": ("jaxvis.cli.search_cmd", "random search of the regularization hyperparameters, with a review gallery"),
    "live": ("jaxvis.cli.live_cmd", "the live view in the browser: a layer responding to a webcam, image or video"),
}


def usage() -> str:
    lines = ["usage: jaxvis <command> [--flags]   (jaxvis <command> --help for its flags)", "", "commands:"]
    lines += [f"  {name:10s} {doc}" for name, (_, doc) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    command = argv[1]
    if command not in COMMANDS:
        print(f"jaxvis: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    from absl import app, flags

    module = importlib.import_module(COMMANDS[command][0])
    # `jaxvis <command> --help` shows the command's docstring and its own flags
    # (absl describes __main__ and the key flags of sys.argv[0]).
    sys.modules["__main__"].__doc__ = module.__doc__
    for name in (module.__name__, "jaxvis.cli.job_flags", "jaxvis.cli.host_flags"):
        for flag in flags.FLAGS.get_key_flags_for_module(name):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(module.main, argv=[f"jaxvis {command}", *argv[2:]])


if __name__ == "__main__":
    main()
