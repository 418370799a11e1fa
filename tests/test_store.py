import json

import pytest

from judge.errors import StoreError
from judge.records import Query
from judge.store import JsonlWriter, RunStore, iter_jsonl, read_records, repair_jsonl, scan_ids


def q(i: int) -> Query:
    return Query(query_id=f"q-{i}", cf_group="cf-1", scenario_id="s", scenario_version="1",
                 context="general", text=f"hello {i}")


def test_writer_appends_whole_lines_and_flushes_in_batches(tmp_path):
    p = tmp_path / "queries.jsonl"
    w = JsonlWriter(p, flush_every=3)
    for i in range(4):
        w.write(q(i))
    assert len(p.read_text().splitlines()) == 3  # one batch flushed, one record buffered
    w.close()
    assert [o["query_id"] for _, o in iter_jsonl(p)] == ["q-0", "q-1", "q-2", "q-3"]


def test_torn_trailing_line_is_cut_and_kept(tmp_path):
    p = tmp_path / "queries.jsonl"
    with JsonlWriter(p) as w:
        w.write(q(0))
        w.write(q(1))
    good = p.read_bytes()
    p.write_bytes(good + b'{"query_id": "q-2", "cf_gr')
    store = RunStore(tmp_path)
    assert len(store.repairs) == 1 and store.repairs[0].bytes_cut == 26
    assert p.read_bytes() == good
    assert (tmp_path / "queries.jsonl.torn").read_bytes().startswith(b'{"query_id": "q-2"')
    assert scan_ids(p, "query_id") == {"q-0", "q-1"}


def test_repair_is_noop_on_clean_file(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n')
    assert repair_jsonl(p) is None and p.read_text() == '{"a": 1}\n'


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path):
    p = tmp_path / "queries.jsonl"
    p.write_text('{"query_id": "a"}\nnot json\n{"query_id": "b"}\n')
    with pytest.raises(StoreError) as e:
        list(iter_jsonl(p))
    assert e.value.line == 2 and str(p) in e.value.one_line()


def test_newer_schema_version_refused(tmp_path):
    p = tmp_path / "queries.jsonl"
    rec = json.loads(q(0).model_dump_json())
    rec["schema_version"] = 99
    p.write_text(json.dumps(rec) + "\n")
    with pytest.raises(StoreError, match="newer than this judge"):
        read_records(p, Query)


def test_latest_record_per_id_wins(tmp_path):
    p = tmp_path / "g.jsonl"
    p.write_text('{"id": "a", "status": "error"}\n{"id": "a", "status": "ok"}\n'
                 '{"id": "b", "status": "error"}\n')
    assert scan_ids(p, "id", keep=lambda o: o["status"] == "ok") == {"a"}


def test_manifest_update_is_atomic_merge(tmp_path):
    s = RunStore(tmp_path / "run")
    s.update_manifest(stages={"generate": {"written": 1}})
    s.update_manifest(stages={"score": {"written": 2}}, status="ok")
    m = s.manifest()
    assert m["stages"] == {"generate": {"written": 1}, "score": {"written": 2}}
    assert not [f for f in (tmp_path / "run").iterdir() if f.name.startswith(".manifest")]


def test_run_dir_that_is_a_file_is_a_clear_error(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(StoreError) as e:
        RunStore(f / "run")
    assert "cannot create run directory" in e.value.one_line() and e.value.exit_code == 2


def test_mutant_torn_line_longer_than_one_scan_block_is_cut_at_its_start(tmp_path):
    """Kills: repair scanning only the last 64 KiB for the newline before a torn line.

    A final whole record over 64 KiB (a long answer), then a torn line over 64 KiB: the
    newline that ends the last whole record is more than one block from the end."""
    p = tmp_path / "generations.jsonl"
    big = {"generation_id": "g-big", "response": "x" * 100_000}
    good = (json.dumps({"generation_id": "g-0", "response": "short"}) + "\n"
            + json.dumps(big) + "\n").encode()
    torn = json.dumps({"generation_id": "g-torn", "response": "y" * 90_000}).encode()[:80_000]
    assert len(torn) > 1 << 16 and b"\n" not in torn
    p.write_bytes(good + torn)
    rep = repair_jsonl(p)
    assert rep is not None and (rep.bytes_cut, rep.offset) == (len(torn), len(good))
    assert p.read_bytes() == good
    assert (tmp_path / "generations.jsonl.torn").read_bytes() == torn + b"\n"
    assert scan_ids(p, "generation_id") == {"g-0", "g-big"}


def test_a_file_that_is_one_torn_line_is_emptied_and_kept(tmp_path):
    p = tmp_path / "generations.jsonl"
    torn = b'{"generation_id": "g-0", "response": "' + b"z" * 200_000
    p.write_bytes(torn)
    rep = repair_jsonl(p)
    assert rep is not None and rep.bytes_cut == len(torn)
    assert p.read_bytes() == b""
    assert (tmp_path / "generations.jsonl.torn").read_bytes() == torn + b"\n"


# ---- run lock, --force backups, links (issue 14)

def test_run_lock_is_exclusive_and_released(tmp_path):
    from judge.errors import StoreError
    from judge.store import RunLock, RunStore

    st = RunStore(tmp_path, lock=True)
    with pytest.raises(StoreError, match=r"in use by another judge process \(pid \d+\)"):
        RunLock(tmp_path)  # a second open file description is refused, even in-process
    st.unlock()
    RunLock(tmp_path).release()


def test_reset_numbers_backups_and_never_overwrites(tmp_path):
    from judge.store import RunStore

    st = RunStore(tmp_path)
    (tmp_path / "generations.jsonl.bak.1").write_text("oldest\n")
    st.path("generations").write_text("new\n")
    assert st.reset("generations").name == "generations.jsonl.bak.2"
    assert (tmp_path / "generations.jsonl.bak.1").read_text() == "oldest\n"
    assert st.reset("generations") is None


def test_symlink_inside_the_run_is_allowed_outside_refused(tmp_path):
    from judge.errors import StoreError
    from judge.store import RunStore

    run = tmp_path / "run"
    run.mkdir()
    (run / "real.txt").write_text("x")
    (run / "alias.txt").symlink_to(run / "real.txt")
    RunStore(run)
    (run / "out.txt").symlink_to(tmp_path)
    with pytest.raises(StoreError, match="symbolic link out of the run"):
        RunStore(run)
