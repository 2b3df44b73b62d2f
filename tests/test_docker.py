"""The Dockerfile (no Docker engine runs here): its versions agree with setup.py and the
lock file, it installs what CI tests, and its build stops unless the installed CLIs run."""

import re
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions():
    """(KEYWORD, arguments) of each instruction, continuation lines joined."""
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            yield keyword.upper(), arguments.strip()


def _dockerignored(path, patterns):
    """Whether Docker leaves `path` (relative to the build context) out: the last pattern
    matching it or a folder above it decides; `*` stays within a folder, `**` does not."""
    excluded, parts = False, path.split("/")
    for pattern in patterns:
        negated = pattern.startswith("!")
        tokens = re.split(r"(\*\*/|\*\*|\*|\?)", pattern.lstrip("!").strip("/"))
        wildcards = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        regex = "".join(wildcards.get(token, re.escape(token)) for token in tokens)
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negated
    return excluded


def _lock():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = Version(version)
    return pins


def _setup_requirements(block="EXPERIMENTS"):
    """setup.py's list `block` (CORE: the library; EXPERIMENTS: the extra), by name."""
    text = (ROOT / "setup.py").read_text()
    start = text.index(f"\n{block} = [")
    body = text[start:text.index("\n]", start)]
    return {Requirement(r).name: Requirement(r) for r in re.findall(r'"([^"]+)"', body)}


def test_the_base_image_is_tensorflows_gpu_image_of_the_locked_minor_version():
    tag = re.search(r"^ARG TENSORFLOW_IMAGE=(\S+)$", DOCKERFILE, re.M).group(1)
    assert re.search(r"^FROM tensorflow/tensorflow:\$\{TENSORFLOW_IMAGE\}$", DOCKERFILE, re.M)
    image_version, variant = tag.split("-", 1)
    assert variant == "gpu"
    image, locked = Version(image_version), _lock()["tensorflow"]
    assert (image.major, image.minor) == (locked.major, locked.minor)
    assert image <= locked  # the lock upgrades within the minor version, never down
    for block in ("CORE", "EXPERIMENTS"):
        required = _setup_requirements(block)["tensorflow"]
        assert image in required.specifier and locked in required.specifier, block


def test_the_image_installs_the_package_with_the_lock_file():
    assert re.search(r'pip install -c requirements\.lock "\.\[experiments\]"', DOCKERFILE)
    for copied in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.M):
        for name in copied.split():
            assert (ROOT / name).exists(), name


def test_every_pinned_requirement_of_setup_py_is_the_locked_version():
    locked = _lock()
    for name, requirement in [*_setup_requirements("CORE").items(),
                              *_setup_requirements("EXPERIMENTS").items()]:
        key = name.lower().replace("_", "-")
        assert key in locked, f"{name} is not in requirements.lock"
        assert locked[key] in requirement.specifier, (name, locked[key], requirement)


def test_the_image_runs_the_training_cli_with_keras_2():
    assert 'ENTRYPOINT ["python", "-m", "rethink_bnn.train"]' in DOCKERFILE
    assert "TF_USE_LEGACY_KERAS=1" in DOCKERFILE
    assert re.search(r'VOLUME \["/data", "/workspace/runs"\]', DOCKERFILE)
    # the build stops unless the image's Python is the one the lock was made on
    locked_python = re.search(r"Python (\d+)\.(\d+)", (ROOT / "requirements.lock").read_text())
    checked = re.search(r"sys\.version_info\[:2\] == \((\d+), (\d+)\)", DOCKERFILE)
    assert checked and checked.groups() == locked_python.groups()


def test_the_build_runs_both_clis_from_the_install_not_the_copied_sources():
    # Run where the sources were copied to, `python -m` would import them, not the
    # installed package, and a module the install left out would go unnoticed.
    assert "PYTHONPATH" not in DOCKERFILE
    workdir, sources, installed, checked = PurePosixPath("/"), None, False, set()
    for keyword, arguments in _instructions():
        if keyword == "WORKDIR":
            workdir = PurePosixPath(workdir, arguments)
        elif keyword == "COPY" and "rethink_bnn" in arguments.split()[:-1]:
            sources = PurePosixPath(workdir, arguments.split()[-1]).parent
        elif keyword == "RUN":
            cwd = workdir
            for command in (command.strip() for command in arguments.split("&&")):
                if command.startswith("cd "):
                    cwd = PurePosixPath(cwd, command[3:].strip())
                cli = re.fullmatch(r"python -m (rethink_bnn\.\w+) --help( > /dev/null)?", command)
                if cli:
                    assert installed and cwd != sources, (cli[1], cwd, sources)
                    checked.add(cli[1])
                installed = installed or command.startswith("python -m pip install")
    assert checked == {"rethink_bnn.train", "rethink_bnn.plot"}


def test_the_dockerignore_leaves_in_everything_the_build_copies():
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert _dockerignored("rethink_bnn/experiments/training/__init__.py", patterns + ["rethink_bnn/*"])
    assert _dockerignored("rethink_bnn/__pycache__/train.pyc", patterns)
    for keyword, arguments in _instructions():
        if keyword == "COPY":
            for name in arguments.split()[:-1]:
                copied = [ROOT / name] if (ROOT / name).is_file() else (ROOT / name).rglob("*")
                for path in copied:
                    relative = path.relative_to(ROOT).as_posix()
                    if path.is_file() and "__pycache__" not in relative:
                        assert not _dockerignored(relative, patterns), relative
