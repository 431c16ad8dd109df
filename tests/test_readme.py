"""The README cannot drift from the code: every shell command in its fenced blocks is run here (the real command,
or its --help or a make dry run where the real one takes hours or never ends), and its Python example runs; the
docs index lists every page under docs/, which holds no log, script or binary record."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, write_images

README = open(os.path.join(REPO, "README.md")).read()

# README command -> how this test runs it: "run" (as written, in a scratch folder), "help" (its --help: the flags
# it names must be listed), "dry-run" (make -n: the recipe must resolve).
COMMANDS = {
    "make demo": "dry-run",
    "make test": "dry-run",
    ".venv/bin/semdenoise denoise photo.jpg more_photos/ --out denoised/": "run",
    ".venv/bin/semdenoise denoise photo.jpg --out denoised/ --sigma 25": "run",
    ".venv/bin/semdenoise serve": "help",
    ".venv/bin/semdenoise train denoiser --sigma=25 --steps=20000 --model_dir=runs/sigma25": "help",
    ".venv/bin/semdenoise train joint --task=classification --data=../shared/data/cifar10-jpeg "
    "--head=runs/head_cifar/head.keras --denoiser_init=saved_models/denoiser_sigma25.keras --sigma=25 "
    "--crop_size=32 --model_dir=runs/joint_cls_s25": "help",
    ".venv/bin/semdenoise evaluate --sets Kodak24 --sigmas 25 --methods noisy,proposed --limit 2 --out my_tables": "run",
    ".venv/bin/semdenoise export savedmodel --sigma 25 --base exported": "run",
    ".venv/bin/semdenoise export tflite --sigma 25 --precision fp32 --out-dir exported/tflite": "run",
    ".venv/bin/python -m tools.beam_denoise --input 'photos/*.jpg' --out beam_denoised/": "run",
}
# What each real command must leave behind in the scratch folder.
OUTPUTS = {
    "photo.jpg more_photos/": ["denoised/photo_denoised.png", "denoised/shot_denoised.png"],
    "--out denoised/ --sigma 25": ["denoised/photo_denoised.png"],
    "evaluate": ["my_tables/results.md"],
    "savedmodel": ["exported/semdenoise/1/saved_model.pb"],
    "tflite": ["exported/tflite/denoiser_sigma25_fp32.tflite"],
    "beam_denoise": ["beam_denoised/a_denoised.png"],
}


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def shell_commands() -> list[str]:
    """Every command of the README's bash blocks: comments dropped, continuation lines joined."""
    commands = []
    for block in readme_blocks("(?:bash|sh|console)"):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(re.sub(r"\s+", " ", line))
    return commands


def test_every_readme_command_is_known_to_this_test():
    assert shell_commands(), "no shell commands found in README.md"
    assert sorted(shell_commands()) == sorted(COMMANDS), "update COMMANDS (and how each runs) with the README"
    assert len(README.splitlines()) <= 250


def _environment():
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("SEMDENOISE_MODELS_DIR", None)
    return env


def _as_run(command: str) -> list[str]:
    import shlex

    bin_dir = os.path.dirname(sys.executable)
    words = shlex.split(command)
    if words[0].startswith(".venv/bin/"):
        words[0] = os.path.join(bin_dir, os.path.basename(words[0]))
    return words


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path):
    write_images(str(tmp_path), count=1, size=(48, 40), fmt="jpg")
    os.replace(tmp_path / "img00.jpg", tmp_path / "photo.jpg")
    write_images(str(tmp_path / "more_photos"), count=1, size=(40, 32), fmt="jpg", seed=1)
    os.replace(tmp_path / "more_photos" / "img00.jpg", tmp_path / "more_photos" / "shot.jpg")
    write_images(str(tmp_path / "photos"), count=1, size=(32, 32), fmt="jpg", seed=2)
    os.replace(tmp_path / "photos" / "img00.jpg", tmp_path / "photos" / "a.jpg")
    for command, how in COMMANDS.items():
        if how == "dry-run":
            target = command.split()[-1]
            words = ["make", "-n", "-o", ".venv/.installed", target]
            result = subprocess.run(words, cwd=REPO, capture_output=True, text=True, timeout=60)
            assert result.returncode == 0 and result.stdout.strip(), (command, result.stderr)
            continue
        words = _as_run(command)
        if how == "help":
            words = [w for w in words if not w.startswith("--")] + ["--help"]
        result = subprocess.run(words, cwd=tmp_path, env=_environment(), capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-3000:])
        if how == "help":
            for flag in re.findall(r"(--[a-z_-]+)=", command):
                assert flag in result.stdout, (command, flag)
            continue
        for key, outputs in OUTPUTS.items():
            if key in command:
                for output in outputs:
                    assert (tmp_path / output).exists(), (command, output, result.stderr[-2000:])


@pytest.mark.slow
def test_the_readme_python_example_runs():
    (example,) = readme_blocks("python")
    noisy = np.random.default_rng(0).random((24, 32, 3), dtype=np.float32)
    scope = {"noisy": noisy}
    exec(compile(example, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    assert scope["estimate"].shape == noisy.shape and scope["choice"].path.endswith("denoiser_sigma25.keras")


def _docs_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "docs"], cwd=REPO, capture_output=True, text=True).stdout.split()
    return [os.path.relpath(path, "docs") for path in listed]


def test_docs_index_lists_every_page_and_docs_holds_no_logs_scripts_or_binary_records():
    index = open(os.path.join(REPO, "docs", "README.md")).read()
    linked = set(re.findall(r"\]\(([^)#]+)\)", index))
    files = _docs_files()
    assert files, "git ls-files docs found nothing"
    pages = [f for f in files if f.endswith((".md", ".png", ".jpg")) and f != "README.md"]
    assert [page for page in pages if page not in linked] == []
    assert [f for f in files if f.endswith((".py", ".sh", ".log", ".csv", ".npz", ".h5", ".keras", ".jsonl"))] == []
    assert all(os.path.exists(os.path.join(REPO, "docs", link)) for link in linked), linked


def test_readme_links_point_at_files_that_exist():
    links = [link for link in re.findall(r"\]\(([^)#\s]+)\)", README) if not link.startswith("http")]
    assert links and [link for link in links if not os.path.exists(os.path.join(REPO, link))] == []


def test_readme_results_table_is_what_the_tool_writes_from_the_measured_file():

    from tools import update_readme_results as tool

    assert README.count(tool.BEGIN) == 1 and README.count(tool.END) == 1, "the README lost the tool's markers"
    docs = os.path.join(REPO, "docs")
    state = tool.load_state(
        os.path.join(docs, "evaluation", "results.json"), os.path.join(docs, "peers_published", "results.json")
    )
    stale = tool.replace_block(README, tool.results_block(state)) != README
    assert not stale, (
        "README's results table differs from docs/evaluation/results.json: python -m tools.update_readme_results"
    )


def test_links_in_docs_pages_point_at_files_that_exist():
    broken = []
    for page in [f for f in _docs_files() if f.endswith(".md")]:
        folder = os.path.dirname(os.path.join(REPO, "docs", page))
        text = open(os.path.join(REPO, "docs", page)).read()
        for link in re.findall(r"\]\(([^)#\s]+)", text):
            if not link.startswith(("http://", "https://", "mailto:")) and not os.path.exists(
                os.path.join(folder, link)
            ):
                broken.append((page, link))
    assert broken == []
