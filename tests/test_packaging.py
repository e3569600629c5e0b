"""The wheel: built from the checkout, installed (not editable) into a fresh venv, and used from another folder.

To stay fast, the venv borrows this interpreter's installed dependencies through a .pth file (torch and
the rest are not installed again) and gets the wheel alone, with --no-deps.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import wait_until_served

from qa.config import PROJECT_ROOT

QUESTION = "Who is the Secretary for Security?"
WHEEL_PARTS = ["pyproject.toml", "README.md", "qa", "models/reader", "models/selector", "seeds"]  # what `pip wheel` reads


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(the venv's bin folder, the environment to run it in) with the wheel of this checkout installed."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for part in WHEEL_PARTS:  # a copy, so that the build leaves nothing in the checkout
        if (PROJECT_ROOT / part).is_dir():
            shutil.copytree(PROJECT_ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(PROJECT_ROOT / part, source / part)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
                    "-w", str(root / "dist")], check=True, timeout=600)
    wheel = next((root / "dist").glob("qa-*.whl"))
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    venv = root / "venv"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    own = next(venv.glob("lib/python*/site-packages"))
    # Every site-packages this interpreter sees (a venv may itself borrow another's), never the checkout.
    borrowed = [p for p in sys.path if Path(p).name == "site-packages" and Path(p).is_dir()]
    (own / "borrowed.pth").write_text("\n".join(borrowed) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "PYTHON"))}
    env.update(XDG_CACHE_HOME=str(root / "cache"), HOME=str(root / "home"), GRADIO_ANALYTICS_ENABLED="False")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
                   check=True, timeout=600, env=env)
    (root / "elsewhere").mkdir()
    return venv / "bin", {**env, "PWD": str(root / "elsewhere")}


def _run(installed: tuple[Path, dict], *argv: str) -> subprocess.CompletedProcess:
    bin_dir, env = installed
    return subprocess.run([str(bin_dir / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=600,
                          cwd=env["PWD"], env=env)


def test_the_installed_package_is_the_wheels_with_its_reader_and_samples(installed: tuple[Path, dict]) -> None:
    code = ("import qa, qa.config as c; s = qa.Settings.load(); "
            "print(qa.__file__); print(s.reader_model); print(s.corpus); print(s.index_dir); print(s.selector_model)")
    out = _run(installed, "python", "-c", code)
    assert out.returncode == 0, out.stderr
    module, reader, corpus, index_dir, selector = out.stdout.split("\n")[:5]
    site_packages = str(installed[0].parent / "lib")
    assert module.startswith(site_packages) and not module.startswith(str(PROJECT_ROOT))
    assert reader.startswith(site_packages) and (Path(reader) / "model.safetensors").is_file()
    assert selector.startswith(site_packages) and (Path(selector) / "selector.json").is_file()
    assert corpus.startswith(site_packages) and sorted(p.name for p in Path(corpus).iterdir()) == \
        sorted(p.name for p in (PROJECT_ROOT / "seeds").iterdir())
    assert index_dir.startswith(installed[1]["XDG_CACHE_HOME"])  # never in site-packages, never in the corpus


def test_qa_ask_and_eval_answer_from_another_folder(installed: tuple[Path, dict], tmp_path: Path) -> None:
    out = _run(installed, "qa", "ask", QUESTION, "--json")
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout.strip().splitlines()[-1])
    assert "Tang Ping-keung" in reply["text"] and reply["source"] == "004_d4ca66b6ff091c88.txt"
    assert "Loading weights" not in out.stderr  # no library progress bars on `qa ask`

    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "1", "question": QUESTION, "answers": ["Tang Ping-keung"],
                                     "source": "004_d4ca66b6ff091c88.txt"}) + "\n", encoding="utf-8")
    out = _run(installed, "qa", "eval", str(questions), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["n"] == 1


def test_qa_serve_answers_from_another_folder(installed: tuple[Path, dict]) -> None:
    from gradio_client import Client

    port = _free_port()
    bin_dir, env = installed
    log = Path(env["PWD"]) / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(bin_dir / "qa"), "serve", "--port", str(port)], cwd=env["PWD"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_served(proc, url, log, 300)
        client = Client(url, verbose=False, analytics_enabled=False)
        html, fields = client.predict(QUESTION, api_name="/respond")
        client.close()
        assert "Tang Ping-keung" in fields["text"] and fields["source"] == "004_d4ca66b6ff091c88.txt"
        assert "004_d4ca66b6ff091c88.txt" in html
    finally:
        proc.terminate()
        proc.wait(timeout=30)
