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


def test_compiled_loops_are_cached_in_the_users_cache_folder_not_in_the_package():
    from pathlib import Path

    from numba.core import config

    import labbench
    import labbench.physics.kernels

    cache = Path(config.CACHE_DIR).resolve()
    package = Path(labbench.__file__).resolve().parent
    assert config.CACHE_DIR and package not in cache.parents and cache != package
