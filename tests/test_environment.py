"""pyproject.toml and environment.yml must describe the same environment."""

import re
import tomllib

import yaml

from conftest import ROOT


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    pins = {}
    for requirement in requirements:
        name, sep, version = requirement.partition("==")
        assert sep, f"pyproject.toml: {requirement!r} is not pinned with =="
        pins[_norm(name)] = version
    return pins


def environment_pins() -> tuple[dict[str, str], str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    pins, python = {}, None
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for requirement in dep["pip"]:
                if requirement.startswith("-e"):
                    continue
                name, sep, version = requirement.partition("==")
                assert sep, f"environment.yml: pip requirement {requirement!r} is not pinned with =="
                pins[_norm(name)] = version
            continue
        name, _, version = dep.partition("=")
        if name == "python":
            python = version
        elif name != "pip":
            assert version, f"environment.yml: {dep!r} is not pinned"
            pins[_norm(name)] = version
    return pins, python


def test_same_packages_and_pins():
    ours, theirs = pyproject_pins(), environment_pins()[0]
    assert ours.keys() == theirs.keys(), (
        f"only in pyproject.toml: {sorted(ours.keys() - theirs.keys())}; "
        f"only in environment.yml: {sorted(theirs.keys() - ours.keys())}"
    )
    different = {name: (ours[name], theirs[name]) for name in ours if ours[name] != theirs[name]}
    assert not different, f"pins differ (pyproject, environment.yml): {different}"


def test_same_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.12"
    assert environment_pins()[1] == "3.11"


def test_torch_pinned_and_no_torchvision():
    pins = pyproject_pins()
    assert pins["torch"] == "2.13.0"
    assert "torchvision" not in pins and "torchaudio" not in pins
    assert pins["tensorflow"].startswith("2.21.") and pins["keras"].startswith("3.")
    assert pins["nbgrader"].startswith("0.9.") and pins["jupyter-book"].startswith("1.")
