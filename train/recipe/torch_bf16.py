#!/usr/bin/python3
"""The PyTorch reference's training measurements in mixed precision: bf16 autocast.

Runs the train_<variant>_b<B>x<T> measurements of torch_wavenet.py (imported from
--reference, not copied) with the forward pass and the loss under
torch.autocast("cpu", dtype=torch.bfloat16), and the backward pass and the optimizer step
outside it, as PyTorch's AMP recipe does:

    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()

Everything else is the reference's own code, run by its main(): the configuration, the
threads (runtime.threads, one interop thread), ATEN_CPU_CAPABILITY, the model and its
fused skip convolution (--impl), the data, the optimizer, warm-up and timed steps, the
timing of a step (zero_grad, forward, loss, backward, step, loss.item()), the statistic and
the report. Only three things are swapped in the imported module:

  * WaveNet   a subclass whose forward runs under autocast (a bf16 conv1d per layer;
              the parameters and their gradients stay float32);
  * F         torch.nn.functional with cross_entropy run under autocast (autocast
              computes it in float32 from the bf16 logits);
  * print     the names of the measurements get the suffix _bf16.

Like the reference, the script re-executes itself once with the reference's
GLIBC_TUNABLES (read from its source) unless GLIBC_TUNABLES is already set.

stdout: one CSV line per measurement, name,samples_per_s,gflops, e.g.
        train_skip256_b1x16000_bf16,51790.12,124.841
stderr: the reference's diagnostics (lines start with '#'), names suffixed, plus the
        autocast set-up and a check of the dtypes it produced in the first step.
Only training is measured (the reference's generation stays float32).

Usage: /usr/bin/python3 torch_bf16.py --reference ../shared/bench/torch_wavenet.py
                                      [--config config.json] [--only REGEX] [--impl fused|perlayer]
--only REGEX selects the training measurements whose name, with or without the _bf16
suffix, matches; --config defaults to config.json beside the reference.
"""
import argparse
import ast
import builtins
import importlib.util
import os
import re
import sys
import types

SUFFIX = "_bf16"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, metavar="PATH/torch_wavenet.py",
                    help="the reference benchmark script, imported from this path")
    ap.add_argument("--config", default=None, help="benchmark configuration (default: config.json beside the reference)")
    ap.add_argument("--only", default=None, help="regex: run only training measurements whose name (with or without "
                    + SUFFIX + ") matches")
    ap.add_argument("--impl", default="fused", choices=("fused", "perlayer"),
                    help="the reference's skip-connection implementation; default fused")
    return ap.parse_args()


def reference_tunables(path):
    """The value of the reference's top-level _TUNABLES = "..." assignment, read without
    executing it (executing it imports torch, and glibc reads the tunables only at start)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_TUNABLES" for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return None
    return None


def import_reference(path):
    # The module's name is not "__main__", so importing it neither re-executes the
    # process nor runs its main(); it does set ATEN_CPU_CAPABILITY before it imports
    # torch, which is why nothing here imports torch before it.
    spec = importlib.util.spec_from_file_location("torch_wavenet_reference", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def train_names(ref, cfg):
    """The reference's training measurement names, in its order."""
    return [f"train_{v}_b{s['batch']}x{s['samples']}" for v in cfg["variants"] for s in cfg["train"]["shapes"]]


def install_autocast(ref, names):
    """Swaps WaveNet, F and print in the reference module (see the module docstring)."""
    torch, F = ref.torch, ref.F

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16)

    checked = {"forward": False, "loss": False}

    class AutocastWaveNet(ref.WaveNet):
        def forward(self, x):
            with autocast():
                out = super().forward(x)
            if not checked["forward"] and torch.is_grad_enabled():
                checked["forward"] = True
                conv = self.filter_gate[0]
                ref.log(f"autocast check: logits {out.dtype}, parameters {conv.weight.dtype}")
            return out

    class AutocastFunctional(types.ModuleType):
        def __getattr__(self, attr):
            return getattr(F, attr)

        @staticmethod
        def cross_entropy(*args, **kwargs):
            with autocast():
                loss = F.cross_entropy(*args, **kwargs)
            if not checked["loss"]:
                checked["loss"] = True
                ref.log(f"autocast check: loss {loss.dtype} (from {args[0].dtype} logits); "
                        f"backward and optimizer step outside autocast")
            return loss

    plain = set(names)

    def suffixed(s):
        # "train_x_b1x16000,..." on stdout and "# train_x_b1x16000: ..." on stderr
        for prefix, sep in (("", ","), ("# ", ":")):
            if s.startswith(prefix):
                head, cut, rest = s[len(prefix):].partition(sep)
                if cut and head in plain:
                    return prefix + head + SUFFIX + sep + rest
        return s

    def print_suffixed(*args, **kwargs):
        if args and isinstance(args[0], str):
            args = (suffixed(args[0]),) + args[1:]
        builtins.print(*args, **kwargs)

    ref.WaveNet = AutocastWaveNet
    ref.F = AutocastFunctional("torch.nn.functional (cross_entropy under bf16 autocast)")
    ref.print = print_suffixed      # found before the builtin by the module's functions


def main():
    args = parse_args()
    reference = os.path.abspath(args.reference)
    if not os.path.isfile(reference):
        sys.exit(f"--reference {args.reference}: no such file")
    if sys.platform.startswith("linux") and "GLIBC_TUNABLES" not in os.environ:
        tunables = reference_tunables(reference)
        if tunables is not None:
            os.environ["GLIBC_TUNABLES"] = tunables
            os.execv(sys.executable, [sys.executable] + sys.argv)
        print(f"# WARNING: no _TUNABLES in {reference}; running with stock glibc malloc", file=sys.stderr)

    ref = import_reference(reference)
    torch = ref.torch
    config = args.config or os.path.join(os.path.dirname(reference), "config.json")
    cfg = ref.load_config(config)
    only = re.compile(args.only) if args.only else None
    names = [n for n in train_names(ref, cfg)
             if only is None or only.search(n) is not None or only.search(n + SUFFIX) is not None]
    if not hasattr(torch, "autocast"):
        sys.exit(f"torch {torch.__version__} has no torch.autocast for the CPU")
    install_autocast(ref, names)
    ref.log(f"autocast bf16 ON: torch.autocast('cpu', dtype=torch.bfloat16) around forward and loss; "
            f"torch {torch.__version__}; reference {reference}; measurements {','.join(names) or 'none'}")
    # The reference's main() does the rest, on the selected training measurements only.
    only_train = "^(?:" + "|".join(re.escape(n) for n in names) + ")$" if names else "(?!)"
    sys.argv = [reference, "--config", config, "--only", only_train, "--impl", args.impl]
    return ref.main()


if __name__ == "__main__":
    sys.exit(main())
