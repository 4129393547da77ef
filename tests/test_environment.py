"""requirements.txt (pip) and environment.yml (conda) name the same packages and versions."""

from pathlib import Path

COURSE = Path(__file__).resolve().parents[1]


def pins(lines: list[str]) -> set[str]:
    """Normalised `name==version` pins from requirement lines (comments and `-e .` skipped)."""
    found = set()
    for line in lines:
        line = line.split("#")[0].strip().lstrip("- ").strip()
        if "==" in line:
            found.add(line.replace(" ", "").lower())
    return found


def test_pip_and_conda_pin_the_same_packages() -> None:
    pip = pins((COURSE / "requirements.txt").read_text().splitlines())
    conda = pins((COURSE / "environment.yml").read_text().splitlines())
    assert pip and pip == conda


def test_torch_pins_take_the_registry_builds() -> None:
    pip = pins((COURSE / "requirements.txt").read_text().splitlines())
    # Three '=' skip the local CPU-only torch wheel, for which no torchvision exists.
    assert "torch===2.13.0" in pip and "torchvision===0.28.0" in pip
