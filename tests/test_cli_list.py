"""The CLI package in-process: ``benchbench list``, global options, argument parsing, the
module structure (no import cycles), user optimizers by import path."""

from __future__ import annotations

import ast
import inspect
import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest

import benchbench.cli as cli
from benchbench.cli import build_parser, main, parse_params
from benchbench.cli._common import parse_options
from benchbench.optimizer import Optimizer, check_param
from benchbench.registry import BENCHMARKS, OPTIMIZERS, REGISTRIES
from benchbench.trial import TrialInfo, TrialValue

CLI_DIR = Path(cli.__file__).parent
EMBEDDED = Path(__file__).resolve().parents[1] / "tabular_data" / "embedded" / "nb201-digits.h5"


class TinyOptimizer(Optimizer):
    """Asks cells 0, step, 2 * step, ... of an enumerable space (a user's optimizer that is
    not registered: the CLI reaches it by import path)."""

    name: ClassVar[str] = "tiny"

    def __init__(self, *, step: int = 1) -> None:
        self.step = step

    def _validate(self) -> None:
        check_param("step", self.step, kind=int, low=1)

    def ask(self) -> TrialInfo:
        i = self._next_id()
        return TrialInfo(self.space.from_index(i * self.step), None, i)

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        """Ignores what it is told."""


class Nameless(TinyOptimizer):
    """The same without its own ``name``: the label comes from the class name."""

    name: ClassVar[str] = ""


#: This module as the CLI imports it (pytest's module name, already in sys.modules).
HERE = __name__


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def list_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run_main(capsys, "list", *args, "--json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


# --------------------------------------------------------------------------- structure
def _cli_imports(path: Path) -> set[str]:
    """Modules of benchbench.cli that ``path`` imports anywhere (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("benchbench.cli"):
                    found.add(alias.name.removeprefix("benchbench.cli").lstrip(".") or
                              "__init__")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from . import x / from ._common import y
                base = module
            elif module == "benchbench.cli" or module.startswith("benchbench.cli."):
                base = module.removeprefix("benchbench.cli").lstrip(".")
            else:
                continue
            if base:
                found.add(base)
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_command_modules_import_only_common() -> None:
    modules = {p.stem: _cli_imports(p) for p in CLI_DIR.glob("*.py")}
    commands = {"data", "query", "run", "report", "validate", "proxies", "list"}
    assert commands <= set(modules), sorted(modules)
    assert modules["_common"] == set()
    for name in commands:
        assert modules[name] <= {"_common"}, f"benchbench.cli.{name} imports {modules[name]}"
    # the whole package: no cycle (a depth-first search over the import graph)
    state: dict[str, int] = {}

    def visit(m: str, path: tuple[str, ...]) -> None:
        if state.get(m) == 1:
            raise AssertionError(f"import cycle: {' -> '.join((*path, m))}")
        if state.get(m) == 2:
            return
        state[m] = 1
        for dep in modules.get(m, set()):
            visit(dep, (*path, m))
        state[m] = 2

    for m in modules:
        visit(m, ())
    assert {"data", "query", "run", "report", "validate", "proxies", "list"} <= modules["__init__"]


def test_old_cli_modules_are_gone() -> None:
    root = CLI_DIR.parent
    assert not (root / "cli.py").exists()
    assert not (root / "_cli_train.py").exists() and not (root / "_cli_proxies.py").exists()


def test_every_command_is_in_the_parser() -> None:
    p = build_parser()
    sub = next(a for a in p._actions if a.dest == "command")
    assert set(sub.choices) == {"data", "query", "run", "report", "validate", "proxies", "list",
                                "surrogate"}


# ----------------------------------------------------------------------- global options
@pytest.mark.parametrize("argv, root", [
    (["--data-root", "A", "data", "list"], "A"),
    (["data", "list", "--data-root", "B"], "B"),
    (["data", "--data-root", "C", "list"], "C"),
    (["--data-root", "A", "data", "list", "--data-root", "B"], "B"),
    (["--data-root", "A", "query", "x", "0", "--dataset", "d"], "A"),
    (["run", "--benchmark", "b", "--dataset", "d", "--algorithms", "rs", "--seeds", "0",
      "--out", "o", "--data-root", "R"], "R"),
    (["proxies", "correlate", "dir", "--data-root", "P"], "P"),
    (["list", "algorithms", "--data-root", "L"], "L"),
    (["data", "list"], None),
])
def test_data_root_before_or_after_the_command(argv: list[str], root: str | None) -> None:
    from benchbench.cli._common import data_root

    assert data_root(build_parser().parse_args(argv)) == root


def test_data_root_reaches_the_table_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    if not EMBEDDED.is_file():
        pytest.skip(f"{EMBEDDED} is not built")
    monkeypatch.setenv("BENCHBENCH_DATA", str(tmp_path / "empty"))
    root = tmp_path / "root"
    (root / "tables").mkdir(parents=True)
    shutil.copy(EMBEDDED, root / "tables" / "my-copy.h5")
    for argv in (["--data-root", str(root), "data", "list"],
                 ["data", "list", "--data-root", str(root)]):
        code, out, err = run_main(capsys, *argv)
        assert code == 0, err
        assert "my-copy" in out and "imported" in out and "nb201-digits-train" in out
    code, out, _ = run_main(capsys, "data", "list")
    assert code == 0 and "my-copy" not in out and "nb201-digits" in out
    for argv in (["--data-root", str(root), "list", "backends", "--json"],
                 ["list", "backends", "--json", "--data-root", str(root)]):
        code, out, err = run_main(capsys, *argv)
        table = next(e for e in json.loads(out)["backends"] if e["name"] == "table")
        assert code == 0 and "my-copy" in table["names"], err


# ------------------------------------------------------------------------------- parsing
def test_parse_params_keys_on_labels() -> None:
    got = parse_params(["re.population_size=20", "re.aging=false", "re.v2.sample_size=5",
                        "mine.name=x"], ["re", "re.v2", "mine"])
    assert got == {"re": {"population_size": 20, "aging": False},
                   "re.v2": {"sample_size": 5}, "mine": {"name": "x"}}
    with pytest.raises(ValueError, match="names algorithm 'ls', which is not in"):
        parse_params(["ls.first_improvement=true"], ["re"])
    for bad in ("re=1", "re.=1", "population_size", ".x=1", "re.bad-name=1"):
        with pytest.raises(ValueError, match="use LABEL.NAME=VALUE"):
            parse_params([bad], ["re"])


def test_parse_options_json_or_string() -> None:
    assert parse_options(["device=cuda", "mean_seeds=[0, 1]", "n=3", "flag=true",
                          "name=null", "x=1e-3"]) == {
        "device": "cuda", "mean_seeds": [0, 1], "n": 3, "flag": True, "name": None,
        "x": 1e-3}
    assert parse_options(None) == {}
    with pytest.raises(ValueError, match=r"bad --benchmark-option 'device'"):
        parse_options(["device"])
    with pytest.raises(ValueError, match="bad --benchmark-option '1x=2'"):
        parse_options(["1x=2"])
    with pytest.raises(ValueError, match="'device' is given twice"):
        parse_options(["device=cpu", "device=cuda"])


def test_parse_algorithms_labels_and_import_paths() -> None:
    from benchbench.cli.run import algorithm_specs, parse_algorithms

    got = parse_algorithms(f"rs, re,re20=re,mine={HERE}:TinyOptimizer,{HERE}:TinyOptimizer,"
                           f"{HERE}:Nameless")
    assert got == {"rs": "rs", "re": "re", "re20": "re", "mine": f"{HERE}:TinyOptimizer",
                   "tiny": f"{HERE}:TinyOptimizer", "nameless": f"{HERE}:Nameless"}
    specs = algorithm_specs(got, parse_params(["re20.population_size=20", "mine.step=2"],
                                              list(got)))
    # a plain name keeps the spec older study folders have ({}), so they still resume
    assert specs["rs"] == {} and specs["re"] == {}
    assert specs["re20"] == {"algorithm": "re", "population_size": 20}
    assert specs["mine"] == {"algorithm": f"{HERE}:TinyOptimizer", "step": 2}
    with pytest.raises(ValueError, match="uses the label 'rs' twice"):
        parse_algorithms("rs,rs")
    with pytest.raises(ValueError, match="uses the label 'tiny' twice"):
        parse_algorithms(f"tiny=rs,{HERE}:TinyOptimizer")
    with pytest.raises(ValueError, match="bad algorithm label '../x'"):
        parse_algorithms("../x=rs")
    with pytest.raises(ValueError, match="unknown optimizer 'nope'; allowed: .*'rs'"):
        parse_algorithms("rs,nope")
    with pytest.raises(ValueError, match="has no attribute 'Missing'"):
        parse_algorithms(f"m={HERE}:Missing")
    with pytest.raises(ValueError, match="nothing after '='"):
        parse_algorithms("m=")
    with pytest.raises(ValueError, match="--algorithms is empty"):
        parse_algorithms(" , ")
    with pytest.raises(ValueError, match="not a hyper-parameter"):
        algorithm_specs({"re": "re"}, {"re": {"algorithm": "rs"}})


def test_user_optimizer_by_import_path_runs(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    if not EMBEDDED.is_file():
        pytest.skip(f"{EMBEDDED} is not built")
    import pandas as pd

    study = tmp_path / "study"
    args = ["run", "--benchmark", "nb201-digits", "--dataset", "digits", "--algorithms",
            f"rs,mine={HERE}:TinyOptimizer,{HERE}:TinyOptimizer", "--param", "mine.step=7",
            "--seeds", "0,1", "--max-evals", "4", "--epoch", "12", "--workers", "1",
            "--out", str(study)]
    code, out, err = run_main(capsys, *args)
    assert code == 0, err
    assert "6 runs done" in out
    for label, step in (("mine", 7), ("tiny", 1)):
        rec = pd.read_csv(study / "runs" / label / "seed-000001" / "records.csv")
        assert rec["arch_index"].tolist() == [0, step, 2 * step, 3 * step]
        man = json.loads((study / "runs" / label / "seed-000001" / "manifest.json").read_text())
        assert man["result"]["params"] == {"step": step}  # defaults filled in
    spec = json.loads((study / "study.json").read_text())
    assert spec["algorithms"]["mine"] == {"algorithm": f"{HERE}:TinyOptimizer", "step": 7}
    assert spec["algorithms"]["rs"] == {}
    assert spec["command"].startswith("benchbench run --benchmark nb201-digits")
    code, out, _ = run_main(capsys, *args)
    assert code == 0 and "0 runs done, 6 already done" in out


# ---------------------------------------------------------------------------------- list
def test_list_everything_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    doc = list_json(capsys)
    assert list(doc) == ["spaces", "benchmarks", "backends", "algorithms", "proxies",
                         "protocols"]
    for kind, entries in doc.items():
        assert [e["name"] for e in entries] == REGISTRIES[kind].names(), kind
        for e in entries:
            assert set(e) >= {"name", "origin", "target", "description", "params", "error"}
    assert {e["name"] for e in doc["spaces"]} >= {"nb201"}
    assert {e["name"] for e in doc["benchmarks"]} >= {"nb201-train", "nb201-digits-train"}


def test_list_algorithms_shows_every_hyper_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    entries = {e["name"]: e for e in list_json(capsys, "algorithms")["algorithms"]}
    assert set(entries) >= {"rs", "re", "reinforce", "ls", "naswot", "re-zc"}
    for name in OPTIMIZERS.names():
        e = entries[name]
        assert e["error"] is None and e["origin"] == "builtin" and e["description"], name
        sig = inspect.signature(OPTIMIZERS.load(name).__init__)
        expected = {p.name: p.default for p in sig.parameters.values() if p.name != "self"}
        assert {p["name"]: p["default"] for p in e["params"]} == expected, name
    re_params = {p["name"]: p for p in entries["re"]["params"]}
    assert re_params["population_size"]["default"] == 10
    assert re_params["population_size"]["type"] == "int"
    assert "Regularized evolution" in entries["re"]["description"]
    assert "``" not in entries["reinforce"]["description"]  # markup removed
    code, out, _ = run_main(capsys, "list", "algorithms")
    assert code == 0
    assert "population_size=10" in out and "sample_size=3" in out and "aging=true" in out
    flat = " ".join(out.split())  # the text wraps long lines
    for name, e in entries.items():  # every default, as typed on the command line (JSON)
        typed = {p["name"]: p["default"] if isinstance(p["default"], str)
                 else json.dumps(p["default"]) for p in e["params"]}
        shown = ", ".join(f"{k}={v}" for k, v in typed.items())
        assert f"params: {shown}" in flat, name
    assert "benchbench.optimizers" in out  # where plug-ins register


def test_list_aliases_and_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert list_json(capsys, "optimizers") == list_json(capsys, "algorithms")
    assert list(list_json(capsys, "protocol")) == ["protocols"]
    code, out, err = run_main(capsys, "list", "nope")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "benchbench: error: unknown list kind 'nope'; allowed: 'spaces', 'benchmarks', "
        "'backends', 'algorithms', 'proxies', 'protocols'"]


def test_list_protocols_shows_differences_from_nb201(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    from benchbench.protocols import PROTOCOLS, TrainConfig

    entries = {e["name"]: e for e in list_json(capsys, "protocols")["protocols"]}
    assert set(entries) == set(PROTOCOLS)
    fields = set(TrainConfig().to_dict())
    assert set(entries["nb201"]["settings"]) == fields and "changes" not in entries["nb201"]
    assert entries["nb201-12"]["changes"] == {"epochs": 12}
    assert entries["digits"]["changes"]["network"] == {"cells_per_stage": 1, "channels": 4}
    assert entries["darts"]["changes"]["cutout"] == 16
    assert entries["darts"]["settings"]["epochs"] == 600
    code, out, _ = run_main(capsys, "list", "protocols")
    assert code == 0 and "as nb201 except: epochs=12\n" in out
    assert "settings: epochs=200, batch_size=256" in out


def test_list_benchmarks_and_backends(capsys: pytest.CaptureFixture[str]) -> None:
    entries = {e["name"]: e for e in list_json(capsys, "benchmarks")["benchmarks"]}
    train = entries["nb201-digits-train"]
    if train["error"] is None:
        sig = inspect.signature(BENCHMARKS.load("nb201-digits-train"))
        assert {p["name"]: p["default"] for p in train["params"]} == {
            p.name: json.loads(json.dumps(p.default)) for p in sig.parameters.values()}
        assert {"device": "cpu", "mean_seeds": [0, 1]}.items() <= {
            p["name"]: p["default"] for p in train["params"]}.items()
    else:  # torch not installed: listed with the reason, not a crash
        assert "torch" in train["error"]
    backends = {e["name"]: e for e in list_json(capsys, "backends")["backends"]}
    assert backends["table"]["target"] == "tabular_data._backend:TABLES"
    if backends["table"]["error"] is None and EMBEDDED.is_file():
        assert "nb201-digits" in backends["table"]["names"]


def test_an_entry_that_does_not_load_is_listed_with_the_reason(
        capsys: pytest.CaptureFixture[str]) -> None:
    BENCHMARKS.register("broken-bench", "no_such_module_xyz:Factory")
    try:
        entries = {e["name"]: e for e in list_json(capsys, "benchmarks")["benchmarks"]}
        assert "no_such_module_xyz" in entries["broken-bench"]["error"]
        assert entries["broken-bench"]["origin"] == "runtime"
        code, out, _ = run_main(capsys, "list")
        assert code == 0 and "broken-bench" in out and "cannot load: RegistryError" in out
        assert "population_size=10" in out  # the rest is still listed
    finally:
        BENCHMARKS.unregister("broken-bench")


# ------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("args, msg", [
    (["query", "no-such-bench", "0", "--dataset", "digits"], "unknown benchmark 'no-such-bench'"),
    (["data", "describe", "mypkg_does_not_exist.mod:Factory"],
     "cannot import module 'mypkg_does_not_exist.mod'"),
    (["run", "--benchmark", "nb201-digits", "--dataset", "digits", "--algorithms", "rs,nope",
      "--seeds", "0", "--max-evals", "2", "--out", "never-written"], "unknown optimizer 'nope'"),
    (["run", "--benchmark", "nb201-digits", "--dataset", "digits", "--algorithms", "a/b=rs",
      "--seeds", "0", "--max-evals", "2", "--out", "never-written"],
     "bad algorithm label 'a/b'"),
    (["query", "nb201-digits", "0", "--dataset", "digits", "--benchmark-option", "device"],
     "bad --benchmark-option 'device': use KEY=VALUE"),
    (["query", "nb201-digits", "0", "--dataset", "digits", "--benchmark-option", "x=1"],
     "a table takes no options"),
    (["run", "--benchmark", "nb201-digits", "--dataset", "digits", "--algorithms", "rs",
      "--seeds", "0", "--max-evals", "2", "--noise", "bogus", "--out", "never-written"],
     "unknown noise 'bogus'; allowed: crn, fresh, mean"),
    (["run", "--benchmark", "nb201-digits", "--dataset", "digits", "--algorithms", "rs",
      "--seeds", "0", "--max-evals", "2", "--report-benchmark-option", "x=1", "--out",
      "never-written"], "--report-benchmark-option needs --report-benchmark"),
    (["run", "--benchmark", "nb201-digits", "--dataset", "digits", "--algorithms", "rs",
      "--seeds", "0", "--max-evals", "2", "--report-benchmark", "nope", "--out",
      "never-written"], "unknown benchmark 'nope'"),
])
def test_errors_are_one_line(args: list[str], msg: str, capsys: pytest.CaptureFixture[str],
                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BENCHBENCH_DATA", str(tmp_path / "root"))
    code, out, err = run_main(capsys, *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchbench: error: "), err
    assert msg in lines[0], lines[0]
    assert not (tmp_path / "never-written").exists()


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["run", "--benchmark", "x"])
    assert e.value.code == 2
    assert "required" in capsys.readouterr().err
