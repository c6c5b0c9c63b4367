"""The pure parts of the image builds: cache keys, the operator image's reference, the lookup's errors."""

from __future__ import annotations

import dataclasses
import pathlib
import shutil

import pytest
import yaml

from tritonops.devcluster import images

REPOSITORY = pathlib.Path(__file__).resolve().parents[3]


def test_recipe_key_is_stable_and_changes_with_any_input() -> None:
    parts = {"containerfile": "FROM scratch\n", "wheels": "kopf==1.45.2"}
    key = images.recipe_key(parts=parts)
    assert key == images.recipe_key(parts=dict(reversed(list(parts.items()))))
    assert images.recipe_key(parts={**parts, "containerfile": "FROM scratch\nUSER 1\n"}) != key
    assert images.recipe_key(parts={**parts, "wheels": "kopf==1.45.3"}) != key
    # Moving text between parts is a different recipe, not the same concatenation.
    assert images.recipe_key(parts={"a": "xy", "b": ""}) != images.recipe_key(parts={"a": "x", "b": "y"})


def _context(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "repo"
    (root / "operator" / "tritonops").mkdir(parents=True)
    (root / "operator" / "tritonops" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text('[project]\nname = "tritonops"\ndependencies = ["kopf>=1.37,<2"]\n')
    (root / "README.md").write_text("readme\n")
    (root / "Containerfile").write_text("FROM python\n")
    (root / ".containerignore").write_text("*\n")
    return root


def test_operator_key_follows_the_containerfile_the_source_tree_and_the_wheels(tmp_path: pathlib.Path) -> None:
    root = _context(tmp_path)
    wheelhouse = images.Wheelhouse(requirements=("kopf>=1.37,<2",), constraints=("kopf==1.45.2",))
    key = images.operator_key(root=root, wheelhouse=wheelhouse)
    assert images.operator_key(root=root, wheelhouse=wheelhouse) == key

    # Byproducts of running or installing the code are not inputs.
    (root / "operator" / "tritonops" / "__pycache__").mkdir()
    (root / "operator" / "tritonops" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "operator" / "tritonops.egg-info").mkdir()
    (root / "operator" / "tritonops.egg-info" / "PKG-INFO").write_text("x")
    assert images.operator_key(root=root, wheelhouse=wheelhouse) == key

    (root / "operator" / "tritonops" / "new.py").write_text("x = 1\n")
    changed_source = images.operator_key(root=root, wheelhouse=wheelhouse)
    assert changed_source != key

    (root / "Containerfile").write_text("FROM python\nUSER 65532\n")
    changed_containerfile = images.operator_key(root=root, wheelhouse=wheelhouse)
    assert changed_containerfile not in (key, changed_source)

    upgraded = dataclasses.replace(wheelhouse, constraints=("kopf==1.46.0",))
    assert images.operator_key(root=root, wheelhouse=upgraded) != changed_containerfile


def test_source_tree_digest_sees_renames(tmp_path: pathlib.Path) -> None:
    root = _context(tmp_path)
    before = images.source_tree_digest(root=root, paths=["operator"])
    shutil.move(root / "operator" / "tritonops" / "__init__.py", root / "operator" / "tritonops" / "other.py")
    assert images.source_tree_digest(root=root, paths=["operator"]) != before


def test_rootfs_and_wheelhouse_keys_follow_their_recipes() -> None:
    recipe = images.TRITON_ROOTFS
    assert dataclasses.replace(recipe, packages=(*recipe.packages, "curl")).key() != recipe.key()
    assert dataclasses.replace(recipe, suite="trixie").key() != recipe.key()
    wheelhouse = images.Wheelhouse(requirements=("rich>=13",), constraints=("rich==15.0.0",))
    assert dataclasses.replace(wheelhouse, python_version="3.12").key() != wheelhouse.key()


def test_operator_reference_is_the_charts_default_image() -> None:
    chart = REPOSITORY / "charts" / "tritonops"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    app_version = yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"]
    assert images.OPERATOR == f"{values['image']['repository']}:{values['image']['tag'] or app_version}"
    assert images.OPERATOR == images.chart_image_reference(chart_directory=chart)


def test_chart_reference_prefers_an_explicit_tag(tmp_path: pathlib.Path) -> None:
    (tmp_path / "values.yaml").write_text("image: {repository: example.com/op, tag: v9}\n")
    (tmp_path / "Chart.yaml").write_text("appVersion: '1.0'\n")
    assert images.chart_image_reference(chart_directory=tmp_path) == "example.com/op:v9"
    (tmp_path / "values.yaml").write_text("image: {repository: example.com/op, tag: ''}\n")
    assert images.chart_image_reference(chart_directory=tmp_path) == "example.com/op:1.0"


def test_runtime_requirements_are_the_project_dependencies_only() -> None:
    requirements = images.runtime_requirements(pyproject=REPOSITORY / "pyproject.toml")
    assert any(requirement.startswith("kopf") for requirement in requirements)
    assert not any(requirement.startswith(("torch", "pytest", "nvidia-pytriton")) for requirement in requirements)


def test_installed_closure_pins_what_this_environment_runs() -> None:
    import importlib.metadata

    pins = images.installed_closure(requirements=["rich>=13"])
    assert f"rich=={importlib.metadata.version('rich')}" in pins
    # rich's own dependencies come along, pinned too.
    assert any(pin.startswith("pygments==") for pin in pins)


def test_lookup_names_the_command_that_builds_a_missing_archive(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("TRITONOPS_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError, match="make image"):
        images.image_archives()


def test_archives_live_in_the_cache_and_carry_their_key(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("TRITONOPS_CACHE", str(tmp_path))
    assert images.archive_path(name="pause", key="abc") == tmp_path / "images" / "pause-abc.oci.tar"


def test_triton_image_config_runs_tini_as_pid_1_and_the_ngc_user() -> None:
    config = images._triton_config()
    assert config["entrypoint"][:1] == ["/usr/bin/tini"]  # type: ignore[index]
    assert config["user"] == "1000:1000"
    environment = config["env"]
    assert isinstance(environment, dict)
    assert environment["PATH"].startswith("/opt/tritonserver/bin:")
