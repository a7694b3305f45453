"""``labbench bench check``: opens, reports, closes; a bad file is a clean error."""
from click.testing import CliRunner

from labbench.cli import main
from labbench.paths import BENCHES


def test_check_prints_idns_and_snapshot():
    r = CliRunner().invoke(main, ["bench", "check", str(BENCHES / "sim.yaml"), "--read", "0", "1", "1"])
    assert r.exit_code == 0, r.output
    assert "MODEL 2450" in r.output and "81160A" in r.output and "B2201A" in r.output
    assert '"limits"' in r.output and "outputs off" in r.output
    assert "G(0, 1, 1) = " in r.output


def test_check_reports_a_bad_file(tmp_path):
    p = tmp_path / "b.yaml"
    p.write_text((BENCHES / "sim.yaml").read_text().replace("pymeasure.keithley2450", "acme.smu"))
    r = CliRunner().invoke(main, ["bench", "check", str(p)])
    assert r.exit_code != 0
    assert "instruments.smu.driver" in r.output and "Traceback" not in r.output
