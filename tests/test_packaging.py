"""The wheel carries what the code needs: every package, the mapped folders, the data."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "labbench").rglob("__init__.py")}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
    for pkg, folder in cfg["package-dir"].items():
        assert (ROOT / folder / "__init__.py").exists() and pkg in listed


def test_shipped_resources_resolve_by_name():
    from labbench import paths

    assert {"sim", "hardware_example"} <= set(paths.names(paths.BENCHES))
    assert "hfox_2t2r_default" in paths.names(paths.DEVICE_MODELS)
    for sub in ("neurosim_ag_asi", "aihwkit_gong2018_hfo2", "crosssim_example_rram"):
        assert any((paths.MEASURED_DEVICES / sub).glob("*.csv")), sub


def test_procedures_live_in_the_labbench_namespace():
    import importlib.util

    import labbench.procedures

    assert labbench.procedures.REGISTRY["pulse-train"].__name__ == "PulseTrain"
    assert labbench.procedures.__name__ == "labbench.procedures"
    spec = importlib.util.find_spec("procedures")
    assert spec is None or "site-packages" not in str(spec.origin)


def test_a_plain_checkout_imports_the_procedures_without_an_install():
    """Procedures are code in labbench/procedures (issue 25): importable with only the
    checkout on sys.path (no editable finder, no mapping), and the top-level folder the
    user asked for is a link to them."""
    import os
    import subprocess
    import sys

    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
            "sys.path.insert(0, sys.argv[1]); import labbench.procedures as p; "
            "print(p.__file__); print(sorted(p.REGISTRY)[0])")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(sys.executable))
    assert out.returncode == 0, out.stderr
    path, first = out.stdout.split()
    assert Path(path) == ROOT / "labbench" / "procedures" / "__init__.py" and first
    link = ROOT / "procedures"
    if link.is_symlink():     # a checkout without symlinks (Windows) has a text file there
        assert link.resolve() == (ROOT / "labbench" / "procedures").resolve()


def test_compiled_loops_are_cached_in_the_users_cache_folder_not_in_the_package():
    from pathlib import Path

    from numba.core import config

    import labbench
    import labbench.physics.kernels

    cache = Path(config.CACHE_DIR).resolve()
    package = Path(labbench.__file__).resolve().parent
    assert config.CACHE_DIR and package not in cache.parents and cache != package
