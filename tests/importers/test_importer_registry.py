import urllib.error
import urllib.request

import pytest

from judge.errors import DataError, UsageError
from judge.importers import IMPORTERS, fetch_dataset, get_importer


def test_registry_and_unknown_names():
    assert set(IMPORTERS) == {"discrim_eval", "bbq", "holistic_bias", "csv"}
    with pytest.raises(UsageError, match="unknown dataset 'nope' .*discrim_eval"):
        get_importer("nope")
    with pytest.raises(UsageError, match="nothing to download"):
        fetch_dataset("csv")
    with pytest.raises(UsageError, match="unknown file 'x.jsonl'"):
        fetch_dataset("bbq", files=["x.jsonl"])


def test_fetch_offline_is_one_clear_error(tmp_path, monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match=r"huggingface\.co.*download failed: Temporary "
                                        r"failure .*are you online"):
        fetch_dataset("discrim_eval", tmp_path)
    assert not list(tmp_path.rglob("*"))     # no partial files left behind


def test_fetch_writes_the_files(tmp_path, monkeypatch):
    class Resp:
        def __init__(self):
            self.chunks = [b'{"a": 1}\n', b""]

        def read(self, n):
            return self.chunks.pop(0)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    seen = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: seen.append(url) or Resp())
    (path,) = fetch_dataset("discrim_eval", tmp_path)
    assert path == tmp_path / "explicit.jsonl" and path.read_text() == '{"a": 1}\n'
    assert seen == ["https://huggingface.co/datasets/Anthropic/discrim-eval/resolve/main/"
                    "explicit.jsonl"]
